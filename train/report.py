"""Write what a training run produced: metadata, metrics and plots beside the model."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np

from watcher.model.backends import TRAIN_EXTRA, ExtraMissing


def pyplot() -> ModuleType:
    """matplotlib.pyplot drawing to files only (no display on a server).

    Imported on first use: `digitwatch evaluate` draws nothing and runs on the
    runtime install, which has no matplotlib. `train` calls this before it
    trains, so a missing matplotlib is said at once, not after the training.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ExtraMissing(
            f"the plots of a training run need matplotlib, which is not installed ({exc}); "
            f"install it with: {TRAIN_EXTRA}"
        ) from exc
    return plt


def artifact_paths(model_path: Path) -> dict[str, Path]:
    """Where each artifact of a model lives: next to it, sharing its stem."""
    stem = model_path.with_suffix("")
    return {
        "metadata": Path(f"{stem}.meta.json"),
        "metrics": Path(f"{stem}.metrics.json"),
        "curves": Path(f"{stem}.curves.png"),
        "confusion": Path(f"{stem}.confusion.png"),
    }


def write_json(path: Path, payload: dict[str, object]) -> None:
    """Write a JSON file with stable key order, readable by people too."""
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts[true, predicted]."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    """Accuracy and loss per epoch, training against validation."""
    plt = pyplot()
    epochs = np.arange(1, len(history["accuracy"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["accuracy"], label="accuracy (augmented train; non-digits count as misses)")
    left.plot(epochs, history["val_accuracy"], label="val_accuracy")
    left.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    left.legend()
    right.plot(epochs, history["loss"], label="loss")
    right.plot(epochs, history["val_loss"], label="val_loss")
    right.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_confusion(matrix: np.ndarray, path: Path, *, title: str) -> None:
    """Confusion matrix with counts in each cell."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 5.5))
    axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if row == col else "black"
            axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    axes.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true", title=title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
