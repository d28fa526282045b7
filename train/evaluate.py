"""Measure a model on the MNIST test set the way the service uses it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.calibrate import expected_calibration_error
from train.data import load_mnist, normalise_digits
from train.report import confusion_matrix
from watcher.model.classifier import Classifier


@dataclass(frozen=True)
class EvaluateSettings:
    """Which data and which model to evaluate."""

    data: Path | None = None
    model: Path | None = None


@dataclass(frozen=True)
class EvaluationReport:
    """Accuracy, calibration and the flagged share on MNIST test."""

    model_path: Path
    digits: int
    accuracy: float
    ece: float
    flagged_share: float
    confusion: np.ndarray

    def summary(self) -> str:
        """A few lines for a person."""
        worst = sorted(
            ((int(self.confusion[t, p]), t, p) for t in range(10) for p in range(10) if t != p), reverse=True
        )[:3]
        confusions = ", ".join(f"{t} read as {p}: {n}" for n, t, p in worst if n)
        return (
            f"model: {self.model_path}\n"
            f"MNIST test digits: {self.digits}\n"
            f"accuracy: {self.accuracy:.4f} ({round((1 - self.accuracy) * self.digits)} errors)\n"
            f"expected calibration error: {self.ece:.4f}\n"
            f"flagged uncertain: {self.flagged_share:.2%}\n"
            f"most frequent confusions: {confusions or 'none'}"
        )


def evaluate(settings: EvaluateSettings) -> EvaluationReport:
    """Normalise the test digits as the service would, classify them, and compare with the labels."""
    dataset = load_mnist(settings.data)
    classifier = Classifier(settings.model)
    digits = normalise_digits(dataset.x_test)[..., 0]
    probs = np.concatenate([classifier.probabilities(digits[i : i + 1024]) for i in range(0, len(digits), 1024)])
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    correct = predicted == dataset.y_test
    return EvaluationReport(
        model_path=classifier.model_path,
        digits=len(digits),
        accuracy=float(correct.mean()),
        ece=expected_calibration_error(confidence, correct),
        flagged_share=float((confidence < classifier.uncertain_below).mean()),
        confusion=confusion_matrix(dataset.y_test, predicted),
    )
