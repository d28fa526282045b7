"""Rebuild the MNIST digits shipped for `digitwatch train --corrections` from a full MNIST file.

    python -m train.make_replay ../shared/data/mnist.npz [--output train/replay/mnist_replay.npz]

It picks, with a fixed seed, the same number of training digits of each class
(replayed beside the corrections and re-calibrated on) and of test digits of
each class (the before/after check), and writes them in the Keras layout
(`x_train, y_train, x_test, y_test`, uint8) with the indices they have in
MNIST (`train_index, test_index`). The same input gives the same bytes:
`numpy.savez_compressed` stamps each member with the time of writing, so the
archive is written here, member by member, with a fixed one.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from train.data import SHIPPED_REPLAY, Dataset, load_mnist

TRAIN_PER_CLASS = 800  # 8,000 in all: the 6,000 replayed and the 2,000 calibrated on, as with the full MNIST
TEST_PER_CLASS = 200  # 2,000 in all: enough to see a drop of a point, not of a tenth
SEED = 0
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip member can carry
COMPRESSION_LEVEL = 9  # zlib's smallest; the file ships in every wheel


def pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` digits of each class, drawn without replacement, in MNIST order."""
    chosen = [rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(10)]
    return np.sort(np.concatenate(chosen))


def replay_arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    """The shipped file's arrays: a class-balanced, seeded choice of MNIST training and test digits."""
    rng = np.random.default_rng(SEED)
    train_index = pick(dataset.y_train, TRAIN_PER_CLASS, rng)
    test_index = pick(dataset.y_test, TEST_PER_CLASS, rng)
    return {
        "x_train": dataset.x_train[train_index],
        "y_train": dataset.y_train[train_index],
        "x_test": dataset.x_test[test_index],
        "y_test": dataset.y_test[test_index],
        "train_index": train_index.astype(np.uint16),  # MNIST has 60,000 training digits: they fit
        "test_index": test_index.astype(np.uint16),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as `numpy.savez_compressed` does, but with fixed member times, so the bytes repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            member.external_attr = 0o644 << 16  # a plain readable file, whatever the umask
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(member, payload.getvalue(), zipfile.ZIP_DEFLATED, COMPRESSION_LEVEL)


def build(mnist: Path, output: Path = SHIPPED_REPLAY) -> Path:
    """Read a full MNIST (.npz or IDX folder) and write the replay file; returns its path."""
    write_npz(output, replay_arrays(load_mnist(mnist)))
    return output


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m train.make_replay MNIST [--output PATH]`."""
    parser = argparse.ArgumentParser(prog="python -m train.make_replay", description=__doc__.splitlines()[0])
    parser.add_argument("mnist", type=Path, help="the full MNIST: a Keras-layout .npz or a folder of IDX files")
    parser.add_argument("--output", type=Path, default=SHIPPED_REPLAY, help=f"default: {SHIPPED_REPLAY}")
    options = parser.parse_args(argv)
    written = build(options.mnist, options.output)
    print(f"wrote {written} ({written.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
