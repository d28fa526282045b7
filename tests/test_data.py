"""MNIST loaders: npz, IDX plain and gzip, the download fallback, and every way a file can be wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from conftest import TENSORFLOW
from train import data
from train.data import DataError, load_mnist, read_idx


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write a uint8 array in the IDX format MNIST is distributed in."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], *, compress: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, base in data.IDX_NAMES.items():
        write_idx(folder / base, arrays[key], compress=compress)
    return folder


def test_npz_loads_all_four_arrays(tmp_path, mnist_small):
    path = tmp_path / "mnist.npz"
    np.savez(path, **mnist_small)
    dataset = load_mnist(path)
    assert dataset.x_train.shape == (1000, 28, 28)
    assert dataset.x_test.shape == (1000, 28, 28)
    np.testing.assert_array_equal(dataset.y_test, mnist_small["y_test"])
    assert dataset.source == str(path)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_idx_folder_loads_same_arrays_as_npz(tmp_path, mnist_small, compress):
    folder = write_idx_folder(tmp_path / "idx", mnist_small, compress=compress)
    dataset = load_mnist(folder)
    for key in data.IDX_NAMES:
        np.testing.assert_array_equal(getattr(dataset, key), mnist_small[key])


def test_checksum_depends_on_content(tmp_path, mnist_small):
    first = tmp_path / "a.npz"
    np.savez(first, **mnist_small)
    changed = dict(mnist_small, y_test=(mnist_small["y_test"] + 1) % 10)
    second = tmp_path / "b.npz"
    np.savez(second, **changed)
    assert load_mnist(first).checksum() == load_mnist(first).checksum()
    assert load_mnist(first).checksum() != load_mnist(second).checksum()


def test_missing_file_says_so(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_mnist(tmp_path / "nowhere.npz")


def test_npz_without_expected_arrays(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="lacks arrays"):
        load_mnist(path)


def test_not_an_npz_file(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_text("this is not numpy data")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_mnist(path)


@pytest.mark.parametrize(
    "key, bad",
    [
        ("x_train", np.zeros((10, 32, 32), np.uint8)),
        ("x_test", np.zeros((10, 784), np.uint8)),
        ("y_train", np.zeros((7,), np.uint8)),
        ("y_test", np.full((1000,), 12, np.uint8)),
    ],
    ids=["32x32 images", "flat images", "label count", "label range"],
)
def test_wrong_shapes_are_refused(tmp_path, mnist_small, key, bad):
    arrays = dict(mnist_small)
    arrays[key] = bad
    if key == "x_train":
        arrays["y_train"] = np.zeros((10,), np.uint8)
    if key == "x_test":
        arrays["y_test"] = np.zeros((10,), np.uint8)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError):
        load_mnist(path)


def test_idx_folder_missing_a_file(tmp_path, mnist_small):
    folder = write_idx_folder(tmp_path / "idx", mnist_small, compress=False)
    (folder / data.IDX_NAMES["y_test"]).unlink()
    with pytest.raises(DataError, match="t10k-labels"):
        load_mnist(folder)


def test_truncated_idx_file(tmp_path):
    path = write_idx(tmp_path / "images", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_idx_with_wrong_magic(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"\x00" * 12)  # float32 type code
    with pytest.raises(DataError, match="unsigned-byte IDX"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 5)
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


@TENSORFLOW
def test_download_failure_tells_user_to_pass_data(monkeypatch):
    """Without a network the Keras download fails; the message must say what to do next."""
    import keras.datasets.mnist

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")  # what urllib raises offline

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match="--data"):
        load_mnist(None)
