"""Run a digit model on a batch: LiteRT for exported models, Keras (TensorFlow) for any other.

`digitwatch train` and `digitwatch convert` write NAME.tflite beside
NAME.keras (see `train/export.py`) and record in it the SHA-256 of the Keras
file it came from. When that record matches the Keras file, the LiteRT
interpreter runs the model: it loads in milliseconds and never imports
TensorFlow, which takes seconds and hundreds of megabytes. A model without a
matching .tflite (your own .keras or .h5, or one retrained without
re-exporting) runs through Keras.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from watcher.cores import available_cores
from watcher.protocol import BackendChoice

log = logging.getLogger(__name__)

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ZIP_SIGNATURE = b"PK\x03\x04"  # how every .keras file (a zip archive) starts
LITERT_SUFFIX = ".tflite"
SOURCE_KEY = "digitwatch_source_sha256"  # TFLite metadata entry: hash of the Keras file exported
# LiteRT threads. Two beat one even while decode workers fill both cores (docs/benchmarks.md,
# "Speed"): the model's share of each chunk is done sooner, and the workers wait less.
INFERENCE_THREADS = min(2, available_cores())


TRAIN_EXTRA = "pip install 'digitwatch[train]'"  # what adds TensorFlow, Keras and matplotlib


class ModelError(Exception):
    """The model file is missing or is not a usable digit classifier."""


class ExtraMissing(ModelError):
    """A part of the `train` extra (Keras, TensorFlow, matplotlib) is needed and not installed: the runtime
    install serves models with LiteRT alone."""


class Backend(Protocol):
    """A loaded model that maps a float32 batch of inputs to a batch of outputs."""

    name: BackendChoice  # KERAS or LITERT, never AUTO
    input_shape: tuple[int, ...]  # per image, without the batch axis
    output_shape: tuple[int, ...]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Outputs (N, 10) for inputs (N, *input_shape)."""


def load_backend(
    model_path: Path, *, prefer: BackendChoice = BackendChoice.AUTO, threads: int = INFERENCE_THREADS
) -> Backend:
    """Load a model: a .tflite directly, or a .keras/.h5 through its exported twin when one matches.

    `prefer` is AUTO (LiteRT when a matching .tflite exists), KERAS or LITERT
    (a .keras with no matching .tflite is then refused).
    """
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    suffix = model_path.suffix.lower()
    if suffix == LITERT_SUFFIX:
        return LiteRTBackend(model_path, threads=threads)
    if suffix not in KERAS_SUFFIXES:
        raise ModelError(f"{model_path}: expected a .keras or .h5 model file (or a .tflite exported from one)")
    if prefer != BackendChoice.KERAS:
        twin = litert_twin(model_path)
        if twin is not None:
            try:
                return LiteRTBackend(twin, threads=threads)
            except ModelError as exc:
                if prefer == BackendChoice.LITERT:
                    raise
                log.warning("%s; using the Keras model instead", exc)
        elif prefer == BackendChoice.LITERT:
            raise ModelError(f"{model_path} has no matching {LITERT_SUFFIX}; run: digitwatch convert {model_path}")
    _check_keras_archive(model_path)
    return KerasBackend(model_path)


def _check_keras_archive(model_path: Path) -> None:
    """Refuse a .keras file that is no zip archive before importing TensorFlow (seconds) to find out."""
    if model_path.suffix.lower() != ".keras":
        return
    try:
        with open(model_path, "rb") as handle:
            head = handle.read(len(ZIP_SIGNATURE))
    except OSError as exc:
        raise ModelError(f"cannot read {model_path}: {exc.strerror or exc}") from exc
    if head != ZIP_SIGNATURE:
        raise ModelError(f"{model_path} is not a usable Keras model: a .keras file is a zip archive, and this is not")


def litert_twin(model_path: Path) -> Path | None:
    """NAME.tflite beside NAME.keras when it was exported from this very file, else None."""
    twin = model_path.with_suffix(LITERT_SUFFIX)
    if not twin.is_file():
        return None
    if importlib.util.find_spec("ai_edge_litert") is None:
        log.info("%s not used: LiteRT (ai-edge-litert) is not installed on this platform", twin.name)
        return None
    recorded = read_source_digest(twin)
    if recorded != file_sha256(model_path):
        log.warning(
            "%s was not exported from %s (the Keras file changed); run: digitwatch convert %s",
            twin.name,
            model_path.name,
            model_path,
        )
        return None
    return twin


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source_digest(tflite_path: Path) -> str | None:
    """The Keras file hash recorded in a .tflite by `digitwatch convert` (train/export.py), or None."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAs(tflite_path.read_bytes(), 0)
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            if entry.Name() == SOURCE_KEY.encode():
                digest: str = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("ascii")
                return digest
    except Exception:  # a truncated or foreign file: treat as carrying no record
        return None
    return None


class LiteRTBackend:
    """A .tflite model on the LiteRT interpreter (XNNPACK kernels); no TensorFlow import."""

    name = BackendChoice.LITERT

    def __init__(self, path: Path, *, threads: int = INFERENCE_THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _stderr_muted():  # the native layer prints an XNNPACK notice into the service's log
                self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
                self._interpreter.allocate_tensors()
        except Exception as exc:  # the interpreter raises ValueError or RuntimeError for a bad file
            raise ModelError(f"{path} is not a usable LiteRT model: {exc}") from exc
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; expected one each")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self.input_shape = tuple(int(d) for d in inputs[0]["shape_signature"][1:])
        self.output_shape = tuple(int(d) for d in outputs[0]["shape_signature"][1:])
        self._batch = int(inputs[0]["shape"][0])
        self.path = path

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; the input is resized only when the batch size changes, as that re-plans the memory."""
        if len(batch) != self._batch:
            self._interpreter.resize_tensor_input(self._input, (len(batch), *self.input_shape))
            self._interpreter.allocate_tensors()
            self._batch = len(batch)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output))  # a copy: the interpreter reuses its buffer


class KerasBackend:
    """A .keras or .h5 model run by Keras on TensorFlow: any model a user brings."""

    name = BackendChoice.KERAS

    def __init__(self, path: Path) -> None:
        try:
            keras = import_keras_quietly()
        except ExtraMissing as exc:
            raise ExtraMissing(
                f"{path} has no matching {LITERT_SUFFIX}, so it runs through Keras: {exc}; "
                f"or export it once, where Keras is installed, with: digitwatch convert {path}"
            ) from exc
        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many unrelated types for a bad file
            raise ModelError(f"{path} is not a usable Keras model: {exc.__class__.__name__}: {exc}") from exc
        single = not isinstance(self.model.input_shape, list) and not isinstance(self.model.output_shape, list)
        self.input_shape = tuple(self.model.input_shape[1:]) if single else ()
        self.output_shape = tuple(self.model.output_shape[1:]) if single else ()
        self.path = path

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch through the model."""
        return np.asarray(self.model.predict_on_batch(batch))


def import_keras_quietly() -> ModuleType:
    """Import Keras (and TensorFlow) without the native start-up chatter on stderr.

    TensorFlow's C++ layer prints oneDNN, CPU-feature and absl notices before
    any Python logging setting applies; they would land in the service's log
    and in the output of `train`, `evaluate` and `convert`. Call this before
    anything else imports TensorFlow. A TF_CPP_MIN_LOG_LEVEL or a level on the
    "tensorflow" logger that the user set is left as it is. Raises ExtraMissing
    when Keras is not installed (the runtime install has no TensorFlow).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines, e.g. the converter's
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:
        tf_logger.setLevel(logging.WARNING)  # its INFO lines ("Assets written to ...") are progress, not news
    if "keras" not in sys.modules:
        try:
            with _stderr_muted():
                import keras  # noqa: F401  (imported for its side effect: sys.modules["keras"])
        except ImportError as exc:
            raise ExtraMissing(
                f"this needs Keras and TensorFlow, which are not installed ({exc}); install them with: {TRAIN_EXTRA}"
            ) from exc
    return sys.modules["keras"]


@contextmanager
def _stderr_muted() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null meanwhile: native libraries write there directly."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
