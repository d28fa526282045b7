"""The MNIST digits shipped for `train --corrections`: in the package, what they claim to be, rebuilt byte for byte."""

from __future__ import annotations

import fnmatch
import importlib.resources
import tomllib
from pathlib import Path

import numpy as np
import pytest

from train import make_replay
from train.data import SHIPPED_REPLAY, ReplaySource, load_replay

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_replay_digits_are_in_the_installed_package() -> None:
    installed = importlib.resources.files("train") / "replay" / "mnist_replay.npz"
    assert installed.is_file()
    assert Path(str(installed)).resolve() == SHIPPED_REPLAY
    dataset, source = load_replay(None)
    assert (source, dataset.source) == (ReplaySource.SHIPPED, str(SHIPPED_REPLAY))


def test_pyproject_puts_every_replay_file_in_the_wheel() -> None:
    """setuptools ships only the package data pyproject names: every file in train/replay must match a pattern."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["train"]
    files = [path.relative_to(ROOT / "train").as_posix() for path in (ROOT / "train" / "replay").iterdir()]
    assert "replay/mnist_replay.npz" in files
    unshipped = [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    assert unshipped == []


def test_the_shipped_file_holds_balanced_uint8_digits_and_their_places_in_mnist() -> None:
    with np.load(SHIPPED_REPLAY, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert sorted(arrays) == ["test_index", "train_index", "x_test", "x_train", "y_test", "y_train"]
    assert arrays["x_train"].shape == (8000, 28, 28) and arrays["x_test"].shape == (2000, 28, 28)
    assert {arrays[key].dtype for key in ("x_train", "y_train", "x_test", "y_test")} == {np.dtype(np.uint8)}
    assert np.bincount(arrays["y_train"]).tolist() == [800] * 10
    assert np.bincount(arrays["y_test"]).tolist() == [200] * 10
    for split, size in (("train", 60000), ("test", 10000)):
        index = arrays[f"{split}_index"]
        assert np.all(np.diff(index.astype(int)) > 0) and index.max() < size, "distinct places, in MNIST order"
    # MNIST digits: white ink on black, some of it bright, most of each image empty.
    ink = (arrays["x_train"] > 127).mean(axis=(1, 2))
    assert arrays["x_train"].max(axis=(1, 2)).min() > 127 and 0.02 < ink.mean() < 0.3


@pytest.mark.slow
def test_make_replay_rebuilds_the_shipped_file_byte_for_byte_from_mnist(full_mnist_path: Path, tmp_path: Path) -> None:
    rebuilt = make_replay.build(full_mnist_path, tmp_path / "replay.npz")
    assert rebuilt.read_bytes() == SHIPPED_REPLAY.read_bytes()
    with np.load(full_mnist_path) as full, np.load(SHIPPED_REPLAY) as shipped:
        for split in ("train", "test"):
            index = shipped[f"{split}_index"]
            assert np.array_equal(shipped[f"x_{split}"], full[f"x_{split}"][index])
            assert np.array_equal(shipped[f"y_{split}"], full[f"y_{split}"][index])
