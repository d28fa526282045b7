"""The model call both engines make: one bad row costs only itself an error row."""

from __future__ import annotations

import numpy as np

from watcher.model.classifier import Classifier
from watcher.pipeline.core import classify_isolating
from watcher.protocol import Status
from watcher.reading.imaging import Prepared, normalise_array


def test_a_row_the_model_cannot_take_gets_an_error_row_and_the_others_are_read(mnist_small):
    digits = [normalise_array(image) for image in mnist_small["x_test"][:3]]
    broken = np.zeros((5, 5), np.float32)  # no 28x28 digit: the batch's stack fails, and so does its own call
    items = [Prepared(sha256=str(i), digit=d) for i, d in enumerate([digits[0], broken, *digits[1:]])]
    predictions = classify_isolating(Classifier(), items)
    assert [p.status for p in predictions][1] == Status.ERROR
    assert "classification failed" in predictions[1].detail
    labels = [int(label) for label in mnist_small["y_test"][:3]]
    assert [p.digit for i, p in enumerate(predictions) if i != 1] == labels
