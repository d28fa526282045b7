"""`digitwatch convert`: a LiteRT export that agrees with Keras, and a clear error line for what cannot be converted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_MNIST, TENSORFLOW
from train.data import normalise_digits
from watcher.model.backends import LiteRTBackend, file_sha256, import_keras_quietly, read_source_digest
from watcher.model.classifier import Classifier

pytestmark = TENSORFLOW  # the converter's failures and the Keras side of the comparison run in this process


@pytest.fixture
def tiny_copy(tiny_model_path: Path, tmp_path: Path) -> Path:
    """The tiny model and its metadata in a folder of their own, with no .tflite yet."""
    for name in (tiny_model_path.name, "tiny.meta.json"):
        shutil.copy(tiny_model_path.parent / name, tmp_path / name)
    return tmp_path / tiny_model_path.name


@pytest.mark.slow
def test_convert_writes_a_tflite_that_agrees_with_keras(tiny_copy, mnist_small):
    """In-process: this worker has TensorFlow imported already, and a second import in a console-script
    process cost ~10 s of CPU. That TensorFlow's start-up and export print nothing is checked on the
    console script by test_cli's training test, whose `train` runs the same export."""
    from typer.testing import CliRunner

    from watcher.cli import app

    result = CliRunner().invoke(app, ["convert", str(tiny_copy), "--data", str(SMALL_MNIST)])
    assert result.exit_code == 0, result.output
    tflite = tiny_copy.with_suffix(".tflite")
    assert f"{tflite} written" in result.output
    assert "1000/1000 same digit" in result.output  # --data: both models on the 1,000 test digits

    assert read_source_digest(tflite) == file_sha256(tiny_copy)  # the service will serve it for this .keras
    assert Classifier(tiny_copy).backend.name == "litert"
    digits = normalise_digits(mnist_small["x_test"][:20])
    from_litert = LiteRTBackend(tflite).predict(digits)
    keras_model = import_keras_quietly().models.load_model(tiny_copy, compile=False)
    from_keras = np.asarray(keras_model.predict(digits, verbose=0))
    assert (from_litert.argmax(axis=1) == from_keras.argmax(axis=1)).all()
    np.testing.assert_allclose(from_litert, from_keras, atol=0.1)  # logits; the export quantises weights to 8 bits


def _missing(folder: Path) -> Path:
    return folder / "nowhere.keras"


def _not_keras(folder: Path) -> Path:
    path = folder / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    return path


def _not_a_model(folder: Path) -> Path:
    path = folder / "model.keras"
    path.write_text("not a model")
    return path


@pytest.mark.parametrize(
    "make_model, message",
    [
        (_missing, "model file not found"),
        (_not_keras, "is not a .keras file"),
        (_not_a_model, "could not be converted to LiteRT"),
    ],
)
def test_a_model_that_cannot_be_converted_is_an_error_line(tmp_path, make_model, message):
    """In-process (the happy path above runs the console script): Keras is imported once per worker."""
    from typer.testing import CliRunner

    from watcher.cli import app

    model = make_model(tmp_path)
    result = CliRunner().invoke(app, ["convert", str(model)])
    assert result.exit_code == 1
    assert f"Error: {model}" in result.output or f"Error: model file not found: {model}" in result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not list(tmp_path.glob("*.tflite*")), "nothing is written for a model that failed"
