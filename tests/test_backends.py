"""The LiteRT export and backend: same predictions as Keras, used only when exported from this very file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TENSORFLOW
from train.data import normalise_digits
from train.export import with_source_digest
from watcher.model.backends import ModelError, read_source_digest
from watcher.model.classifier import Classifier
from watcher.protocol import BackendChoice
from watcher.reading.imaging import prepare_file


def classify_paths(classifier, paths):
    """The predictions for files, as the pipeline makes them: each file read, then one model call."""
    return classifier.classify_prepared([page for path in paths for page in prepare_file(path)])


pytestmark = TENSORFLOW  # Keras beside LiteRT in this process


@pytest.fixture
def exported(tiny_export_path) -> Path:
    """The tiny model (and its metadata) with NAME.tflite exported beside it by `export_litert`, once per run
    (conftest's tiny_models): read only here."""
    return tiny_export_path


def test_litert_gives_the_same_predictions_as_keras(exported, mnist_small):
    digits = normalise_digits(mnist_small["x_test"])[..., 0]
    litert, keras = Classifier(exported), Classifier(exported, backend=BackendChoice.KERAS)
    assert litert.backend.name == "litert" and keras.backend.name == "keras"
    from_litert, from_keras = litert.probabilities(digits), keras.probabilities(digits)
    assert (from_litert.argmax(axis=1) == from_keras.argmax(axis=1)).all()
    # The export quantises weights to 8 bits: the same digits, probabilities within a hundredth or two.
    np.testing.assert_allclose(from_litert, from_keras, atol=0.02)


def test_files_classify_alike_with_either_backend(exported, digit_files):
    paths = [path for path, _ in digit_files(30)]
    from_litert = classify_paths(Classifier(exported), paths)
    from_keras = classify_paths(Classifier(exported, backend=BackendChoice.KERAS), paths)
    assert [(p.status, p.digit) for p in from_litert] == [(p.status, p.digit) for p in from_keras]


def test_export_records_the_keras_file_it_came_from(exported):
    from watcher.model.backends import file_sha256

    assert read_source_digest(exported.with_suffix(".tflite")) == file_sha256(exported)


def test_a_stale_export_is_not_used(exported, tmp_path):
    keras_path = tmp_path / exported.name
    shutil.copy(exported, keras_path)
    shutil.copy(exported.with_name("tiny.meta.json"), tmp_path / "tiny.meta.json")
    stale = with_source_digest(exported.with_suffix(".tflite").read_bytes(), "0" * 64)
    keras_path.with_suffix(".tflite").write_bytes(stale)
    assert Classifier(keras_path).backend.name == "keras"
    with pytest.raises(ModelError, match=r"no matching \.tflite"):
        Classifier(keras_path, backend=BackendChoice.LITERT)


def test_a_tflite_file_can_be_given_directly(exported, digit_files):
    classifier = Classifier(exported.with_suffix(".tflite"))
    assert classifier.backend.name == "litert"
    assert classifier.uncertain_below == 0.3  # the metadata beside it is read as for the .keras
    paths = [path for path, _ in digit_files(10)]
    assert all(p.status in ("ok", "uncertain") for p in classify_paths(classifier, paths))


def test_a_broken_tflite_is_a_model_error(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="not a usable LiteRT model"):
        Classifier(path)


def test_loading_an_exported_model_never_imports_tensorflow(exported):
    code = (
        "import sys; from watcher.model.classifier import Classifier; c = Classifier(sys.argv[1]); "
        "assert c.backend.name == 'litert'; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code, str(exported)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
