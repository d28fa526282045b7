"""Load MNIST (a Keras-layout .npz, a folder of IDX files, the Keras download, or the digits shipped for
fine-tuning); normalise it as the service does."""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from watcher.model.backends import TRAIN_EXTRA
from watcher.reading import imaging
from watcher.reading.loading import ImageError

log = logging.getLogger(__name__)

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_DTYPE_CODE = 0x08  # unsigned byte, the only type MNIST uses
# A class-balanced few thousand MNIST digits inside the package (rebuilt by train/make_replay.py), so that
# `train --corrections` needs neither --data nor the internet.
SHIPPED_REPLAY = Path(__file__).resolve().parent / "replay" / "mnist_replay.npz"


class DataError(Exception):
    """The training data could not be found or is not MNIST-shaped."""


@dataclass(frozen=True)
class Dataset:
    """MNIST as uint8 images (N, 28, 28) and uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def checksum(self) -> str:
        """SHA-256 over all four arrays, recorded with a model to say what it was trained on."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


class ReplaySource(StrEnum):
    """Where fine-tuning takes the MNIST digits it replays, calibrates on and tests on."""

    SHIPPED = "shipped"  # the digits inside the package: no --data, no download
    DATA = "data"  # --data: the MNIST given, whole


def load_replay(path: Path | None) -> tuple[Dataset, ReplaySource]:
    """MNIST to fine-tune beside: `path` when given, else the digits shipped in the package (never a download)."""
    if path is not None:
        return load_mnist(path), ReplaySource.DATA
    if not SHIPPED_REPLAY.is_file():
        raise DataError(
            f"the MNIST digits shipped for fine-tuning are missing ({SHIPPED_REPLAY}): reinstall digitwatch, "
            "or pass --data with a mnist.npz file or a folder of IDX files"
        )
    return load_mnist(SHIPPED_REPLAY), ReplaySource.SHIPPED


def load_mnist(path: str | Path | None = None) -> Dataset:
    """Load MNIST from `path` (.npz or IDX folder), or download it with Keras when path is None."""
    if path is None:
        return _validated(*_download(), source="keras.datasets.mnist")
    path = Path(path)
    if not path.exists():
        raise DataError(f"data not found: {path}")
    if path.is_dir():
        return _validated(*_load_idx_folder(path), source=str(path))
    return _validated(*_load_npz(path), source=str(path))


def normalise_digits(images: np.ndarray) -> np.ndarray:
    """Run uint8 MNIST digits through the same normaliser the service uses; (N, 28, 28, 1) float32."""
    out = np.empty((*images.shape, 1), dtype=np.float32)
    for index, image in enumerate(images):
        pixels = image.astype(np.float32) / 255.0
        try:
            out[index, ..., 0] = imaging.normalise_array(pixels)
        except ImageError:
            out[index, ..., 0] = pixels  # a near-empty MNIST digit: keep it as it is
    return out


def _download() -> tuple[np.ndarray, ...]:
    """Fetch MNIST through Keras (needs the internet the first time, then it is cached)."""
    try:
        from keras.datasets import mnist
    except ImportError as exc:
        raise DataError(
            f"downloading MNIST needs Keras, which is not installed ({exc}): pass --data with a mnist.npz "
            f"file or a folder of IDX files, or install it with: {TRAIN_EXTRA}"
        ) from exc
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except Exception as exc:  # Keras raises bare Exception subclasses for network failures
        raise DataError(
            f"could not download MNIST ({exc.__class__.__name__}: {exc}). "
            "Without internet access, pass --data with a mnist.npz file or a folder of IDX files."
        ) from exc
    return x_train, y_train, x_test, y_test


def _load_npz(path: Path) -> tuple[np.ndarray, ...]:
    """Read the four arrays from a Keras-layout mnist.npz."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in IDX_NAMES if key not in archive.files]
            if missing:
                raise DataError(f"{path} lacks arrays {missing}; expected {list(IDX_NAMES)}")
            return tuple(archive[key] for key in IDX_NAMES)
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from exc


def _load_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    """Read the four IDX files (plain or .gz, with '-' or '.' before 'idx') from a folder."""
    arrays = []
    for base in IDX_NAMES.values():
        candidates = [base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"]
        found = next((folder / name for name in candidates if (folder / name).is_file()), None)
        if found is None:
            raise DataError(f"{folder} has no {base}[.gz]; it needs the four MNIST IDX files")
        arrays.append(read_idx(found))
    return tuple(arrays)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != IDX_DTYPE_CODE:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header_end + int(np.prod(shape)):
        raise DataError(f"{path} is truncated or has extra bytes for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)


def _validated(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *, source: str
) -> Dataset:
    """Check shapes, dtypes and labels so that a wrong file fails here, not mid-training."""
    for name, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{source}: {name} images have shape {images.shape}, expected (N, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{source}: {name} labels have shape {labels.shape} for {len(images)} images")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"{source}: {name} labels must be digits 0-9")
    log.info("loaded %d training and %d test digits from %s", len(x_train), len(x_test), source)
    return Dataset(
        x_train=np.asarray(x_train, dtype=np.uint8),
        y_train=np.asarray(y_train, dtype=np.uint8),
        x_test=np.asarray(x_test, dtype=np.uint8),
        y_test=np.asarray(y_test, dtype=np.uint8),
        source=source,
    )
