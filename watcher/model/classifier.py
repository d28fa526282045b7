"""Load a digit model once and classify batches of image files with it."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from watcher.model.backends import INFERENCE_THREADS, Backend, ModelError, import_keras_quietly, load_backend
from watcher.protocol import BackendChoice, Prediction, Status
from watcher.reading import imaging

__all__ = ["Classifier", "ModelError", "Prediction", "default_model_path", "import_keras_quietly", "read_metadata"]

log = logging.getLogger(__name__)

DEFAULT_UNCERTAIN_BELOW = 0.6  # used for models that carry no calibrated threshold
BATCH_SIZE = 64  # images per model call: as fast per image as larger batches with LiteRT, in less memory


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(str(resources.files("watcher") / "models" / "default.keras"))


def read_metadata(model_path: Path) -> dict[str, Any]:
    """The metadata JSON written beside a model by `digitwatch train`, or {} for a foreign model."""
    meta_path = Path(f"{model_path.with_suffix('')}.meta.json")
    if not meta_path.is_file():
        return {}
    try:
        metadata: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        return metadata
    except (OSError, ValueError) as exc:
        raise ModelError(f"{meta_path} is not readable JSON: {exc}") from exc


class Classifier:
    """A loaded model plus what is needed to turn its outputs into calibrated predictions."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        backend: BackendChoice = BackendChoice.AUTO,
        threads: int = INFERENCE_THREADS,
    ) -> None:
        """Load the model; `backend` is "auto" (LiteRT when a matching .tflite is beside it), "keras" or "litert";
        `threads` is how many the LiteRT interpreter may use."""
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.metadata = read_metadata(self.model_path)
        self._check_metadata()
        self.backend: Backend = load_backend(self.model_path, prefer=backend, threads=threads)
        self._input_shape = _checked_input_shape(self.backend, self.model_path)
        log.info("model %s loaded (%s)", self.model_path, self.backend.name)
        self.temperature = float(self.metadata.get("temperature", 1.0))
        self.uncertain_below = float(self.metadata.get("uncertain_below", DEFAULT_UNCERTAIN_BELOW))
        self._outputs_logits = self.metadata.get("output") == "logits"

    def _check_metadata(self) -> None:
        """Refuse a model trained on pixels this version does not produce."""
        version = self.metadata.get("normalisation_version")
        if version is not None and version != imaging.NORMALISATION_VERSION:
            raise ModelError(
                f"{self.model_path} was trained with image normalisation v{version}, "
                f"but this digitwatch produces v{imaging.NORMALISATION_VERSION}; retrain it "
                "with `digitwatch train` or use a matching digitwatch version"
            )

    def probabilities(self, digits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, 10) for normalised digits (N, 28, 28)."""
        if len(digits) == 0:
            return np.zeros((0, 10), dtype=np.float32)
        batch = digits.reshape((len(digits),) + self._input_shape).astype(np.float32)
        outputs = np.asarray(self.backend.predict(batch), dtype=np.float64)
        if not self._outputs_logits and _looks_like_probabilities(outputs):
            outputs = np.log(np.clip(outputs, 1e-12, 1.0))  # back to logits, so T applies
        scaled = outputs / self.temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        exp = np.exp(scaled)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def classify_prepared(self, items: Sequence[imaging.Prepared]) -> list[Prediction]:
        """Classify files already read and normalised, in batches; errors pass through as rows."""
        predictions: list[Prediction | None] = [None] * len(items)
        digits = [(index, item.digit) for index, item in enumerate(items) if item.digit is not None]
        for index, item in enumerate(items):
            if item.error is not None:
                predictions[index] = Prediction(status=item.error.kind, detail=item.error.reason)
        for start in range(0, len(digits), BATCH_SIZE):
            chunk = digits[start : start + BATCH_SIZE]
            probs = self.probabilities(np.stack([digit for _, digit in chunk]))
            for (index, _), row in zip(chunk, probs, strict=True):
                predictions[index] = self._prediction(row, items[index].doubt)
        return predictions  # type: ignore[return-value]

    def _prediction(self, probs: np.ndarray, doubt: str | None = None) -> Prediction:
        """Best digit and its calibrated confidence, flagged when under the threshold or when the reading
        doubts that the ink it gave the model is the whole digit (`doubt`): the model is sure of fragments too."""
        digit = int(probs.argmax())
        confidence = float(probs[digit])
        reasons = [f"confidence under {self.uncertain_below:.2f}"] if confidence < self.uncertain_below else []
        reasons += [doubt] if doubt else []
        if reasons:
            return Prediction(status=Status.UNCERTAIN, digit=digit, confidence=confidence, detail="; ".join(reasons))
        return Prediction(status=Status.OK, digit=digit, confidence=confidence)


def _checked_input_shape(backend: Backend, path: Path) -> tuple[int, ...]:
    """The per-image input shape the model takes: (28, 28, 1), (28, 28) or flat (784,)."""
    shape, output = backend.input_shape, backend.output_shape
    if shape not in ((28, 28, 1), (28, 28), (784,)):
        raise ModelError(f"{path} takes inputs of shape {shape}; digitwatch feeds 28x28 grey digits")
    if output != (10,):
        raise ModelError(f"{path} outputs shape {output}; a digit classifier outputs 10 classes")
    return shape


def _looks_like_probabilities(outputs: np.ndarray) -> bool:
    """True when every row is a probability distribution (a softmax output layer)."""
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))
