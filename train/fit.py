"""Train the default CNN on MNIST and write the model with everything needed to trust it."""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from train import (
    DEFAULT_EPOCHS,
    DEFAULT_MEMBERS,
    DEFAULT_NEGATIVES,
    DEFAULT_TYPESET,
    DEFAULT_VARIANTS,
    calibrate,
    report,
)
from train.data import Dataset, load_mnist, normalise_digits
from train.export import export_litert
from watcher import __version__
from watcher.model.backends import import_keras_quietly
from watcher.reading import imaging

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)

CLASSES = [str(digit) for digit in range(10)]


@dataclass(frozen=True)
class TrainSettings:
    """Everything one training run needs."""

    output: Path
    data: Path | None = None
    epochs: int = DEFAULT_EPOCHS
    seed: int = 0
    batch_size: int = 128
    validation_size: int = 5000
    peak_learning_rate: float = 3e-3
    augment: bool = True
    negatives: int = DEFAULT_NEGATIVES  # synthetic non-digits with a uniform target; see train/negatives.py
    variants: int = DEFAULT_VARIANTS  # thick-marker and low-resolution redrawings; see train/variants.py
    typeset: int = DEFAULT_TYPESET  # printed digits in the training fonts; see train/typeset.py
    members: int = DEFAULT_MEMBERS  # networks trained with seeds seed, seed+1, ...; their logits averaged
    verbose: int = 1  # Keras progress: 0 silent, 1 progress bar, 2 one line per epoch


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports."""

    model_path: Path
    test_accuracy: float
    validation_accuracy: float
    temperature: float
    threshold: float
    seconds: float


def train(settings: TrainSettings) -> TrainResult:
    """Load data, train, calibrate on validation, test once, and save model and artifacts."""
    keras_api = import_keras_quietly()  # before anything else imports TensorFlow, so it starts without its notices
    report.pyplot()  # the plots come last: a missing matplotlib must stop the run before it trains
    started = time.monotonic()
    keras_api.utils.set_random_seed(settings.seed)
    dataset = load_mnist(settings.data)
    x_fit, y_fit, x_val, y_val = _split(dataset, settings)
    members: list[keras.Model] = []
    history: dict[str, list[float]] = {}
    for index in range(settings.members):
        member_settings = replace(settings, seed=settings.seed + index)  # its own init, redrawings and stream
        keras_api.utils.set_random_seed(member_settings.seed)
        if settings.members > 1:
            log.info("training member %d of %d (seed %d)", index + 1, settings.members, member_settings.seed)
        member, member_history = _fit(x_fit, y_fit, x_val, y_val, member_settings, name=f"member_{index}")
        members.append(member)
        history = history or member_history  # the curves plotted are the first member's
    model = members[0] if len(members) == 1 else ensemble(members)
    return _finish(model, history, dataset, (x_val, y_val), settings, started)


def ensemble(members: list[keras.Model]) -> keras.Model:
    """One model whose logits are the mean of its members' logits: one file, one LiteRT call."""
    from train.model import INPUT_SHAPE

    keras = import_keras_quietly()
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    logits = keras.layers.Average(name="logits")([member(inputs) for member in members])
    return keras.Model(inputs, logits, name="digitwatch_ensemble")


def _finish(
    model: keras.Model,
    history: dict[str, list[float]],
    dataset: Dataset,
    validation: tuple[np.ndarray, np.ndarray],
    settings: TrainSettings,
    started: float,
) -> TrainResult:
    """Calibrate on validation, test once, and save the model with its artifacts."""
    x_val, y_val = validation
    val_logits = model.predict(x_val, batch_size=1024, verbose=0)
    temperature = calibrate.fit_temperature(val_logits, y_val)
    calibration = _calibration_report(val_logits, y_val, temperature)
    x_test = normalise_digits(dataset.x_test)
    test_logits = model.predict(x_test, batch_size=1024, verbose=0)  # the one look at the test set
    test_predicted = test_logits.argmax(axis=1)
    test_accuracy = float((test_predicted == dataset.y_test).mean())
    seconds = time.monotonic() - started

    settings.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(settings.output)
    export_litert(settings.output)  # NAME.tflite beside it: served without importing TensorFlow
    paths = report.artifact_paths(settings.output)
    metadata = _metadata(dataset, settings, test_accuracy, calibration, seconds)
    report.write_json(paths["metadata"], metadata)
    matrix = report.confusion_matrix(dataset.y_test, test_predicted)
    report.write_json(paths["metrics"], _metrics(history, calibration, test_accuracy, matrix))
    report.plot_curves(history, paths["curves"])
    report.plot_confusion(matrix, paths["confusion"], title=f"MNIST test, accuracy {test_accuracy:.2%}")
    log.info("test accuracy %.4f, %.0f s in all; model saved to %s", test_accuracy, seconds, settings.output)
    return TrainResult(
        model_path=settings.output,
        test_accuracy=test_accuracy,
        validation_accuracy=calibration["validation_accuracy"],
        temperature=temperature,
        threshold=calibration["threshold"],
        seconds=seconds,
    )


def _split(dataset: Dataset, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise the training digits and carve a seeded validation split out of them."""
    log.info("normalising %d training digits", len(dataset.x_train))
    x_all = normalise_digits(dataset.x_train)
    order = np.random.default_rng(settings.seed).permutation(len(x_all))
    size = min(settings.validation_size, len(x_all) // 10)  # small data sets keep 90% for fitting
    val, fit = order[:size], order[size:]
    return x_all[fit], dataset.y_train[fit], x_all[val], dataset.y_train[val]


def _fit(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainSettings,
    *,
    name: str = "digitwatch_cnn",
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train with augmentation and a warm-up + cosine schedule; return the best-on-validation model and the history."""
    from train.model import build_model

    keras = import_keras_quietly()

    model = build_model()
    x_fit, y_fit = _with_variants(x_fit, one_hot(y_fit), settings)
    x_fit, y_fit = _with_typeset(x_fit, y_fit, settings)
    x_fit, y_fit = _with_negatives(x_fit, y_fit, settings)
    steps_per_epoch = int(np.ceil(len(x_fit) / settings.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=settings.peak_learning_rate / 10,
        decay_steps=max(1, steps_per_epoch * (settings.epochs - 1)),
        warmup_target=settings.peak_learning_rate,
        warmup_steps=steps_per_epoch,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    with tempfile.TemporaryDirectory() as scratch:
        best = Path(scratch) / "best.weights.h5"
        checkpoint = keras.callbacks.ModelCheckpoint(
            best, monitor="val_accuracy", save_best_only=True, save_weights_only=True
        )
        history = model.fit(
            training_stream(x_fit, y_fit, seed=settings.seed, batch_size=settings.batch_size, augment=settings.augment),
            validation_data=(x_val, one_hot(y_val)),
            epochs=settings.epochs,
            callbacks=[checkpoint],
            shuffle=False,  # the stream is already shuffled with the seed
            verbose=settings.verbose,
        )
        model.load_weights(best)
    # Ship weights without optimizer state: a third of the size, and users only predict.
    inference_model = build_model(name=name)
    inference_model.set_weights(model.get_weights())
    return inference_model, history.history


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.asarray(np.eye(len(CLASSES), dtype=np.float32)[labels])


def _with_variants(x_fit: np.ndarray, y_fit: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Append digits redrawn with a thick marker or as low-resolution rasters, with their own labels."""
    count = min(settings.variants, len(x_fit) // 3)
    if count <= 0:
        return x_fit, y_fit
    from train.variants import draw_variants

    log.info("redrawing %d digits with a thick marker or at low resolution", count)
    images = _denormalised(x_fit)
    variants, sources = draw_variants(images, count, seed=settings.seed)
    return np.concatenate([x_fit, variants[..., None]]), np.concatenate([y_fit, y_fit[sources]])


def _with_typeset(x_fit: np.ndarray, y_fit: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Append printed digits set in the training's fonts, some with hairlines, with their labels."""
    if settings.typeset <= 0:
        return x_fit, y_fit
    from train.typeset import draw_typeset_digits

    log.info("setting %d printed digits in the training fonts", settings.typeset)
    images, labels = draw_typeset_digits(settings.typeset, seed=settings.seed)
    return np.concatenate([x_fit, images[..., None]]), np.concatenate([y_fit, one_hot(labels)])


def _denormalised(x_fit: np.ndarray) -> np.ndarray:
    """The normalised fitting digits as 28x28 uint8 images, white on black, for redrawing."""
    return np.asarray(np.clip(x_fit.reshape(len(x_fit), 28, 28) * 255 + 0.5, 0, 255), dtype=np.uint8)


def _with_negatives(x_fit: np.ndarray, y_fit: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Append synthetic non-digits whose target is uniform: "none of the ten, equally"."""
    count = min(settings.negatives, len(x_fit) // 5)  # at most a sixth of what the model sees
    if count <= 0:
        return x_fit, y_fit
    from train.negatives import render_negatives

    log.info("drawing %d synthetic non-digits (letters, symbols, shapes, digit pairs, scribbles)", count)
    digits = _denormalised(x_fit[: min(len(x_fit), 20000)])
    negatives = render_negatives(count, seed=settings.seed, digits=digits)[..., None]
    uniform = np.full((len(negatives), len(CLASSES)), 1.0 / len(CLASSES), dtype=np.float32)
    return np.concatenate([x_fit, negatives]), np.concatenate([y_fit, uniform])


def training_stream(
    x_fit: np.ndarray, y_fit: np.ndarray, *, seed: int, batch_size: int, augment: bool = True
) -> tf.data.Dataset:
    """A shuffled, batched tf.data stream, augmented with a seed per batch."""
    import tensorflow as tf

    from train.augment import augment_batch

    stream = tf.data.Dataset.from_tensor_slices((x_fit, y_fit))
    stream = stream.shuffle(len(x_fit), seed=seed, reshuffle_each_iteration=True)
    stream = stream.batch(batch_size)
    if augment:
        stream = stream.enumerate().map(
            lambda step, batch: (
                augment_batch(batch[0], tf.stack([tf.cast(seed, tf.int64), step])),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return stream.prefetch(tf.data.AUTOTUNE)


def _calibration_report(val_logits: np.ndarray, y_val: np.ndarray, temperature: float) -> dict[str, float]:
    """Validation accuracy, ECE before and after temperature scaling, and the chosen threshold."""
    correct = val_logits.argmax(axis=1) == y_val
    raw = calibrate.probabilities(val_logits).max(axis=1)
    scaled = calibrate.probabilities(val_logits, temperature).max(axis=1)
    threshold = calibrate.choose_threshold(scaled)
    return {
        "validation_accuracy": float(correct.mean()),
        "temperature": temperature,
        "ece_before": calibrate.expected_calibration_error(raw, correct),
        "ece_after": calibrate.expected_calibration_error(scaled, correct),
        "threshold": threshold,
        "validation_flagged_share": float((scaled < threshold).mean()),
        "validation_accuracy_unflagged": float(correct[scaled >= threshold].mean()),
    }


def _metadata(
    dataset: Dataset, settings: TrainSettings, test_accuracy: float, calibration: dict[str, float], seconds: float
) -> dict[str, object]:
    """What anyone loading the model needs to know to use and to trust it."""
    import tensorflow as tf

    keras = import_keras_quietly()

    return {
        "format": "digitwatch-model/1",
        "input_shape": [28, 28, 1],
        "normalisation_version": imaging.NORMALISATION_VERSION,
        "classes": CLASSES,
        "output": "logits",
        "temperature": calibration["temperature"],
        "uncertain_below": calibration["threshold"],
        "test_accuracy": test_accuracy,
        "validation_accuracy": calibration["validation_accuracy"],
        "dataset_source": dataset.source,
        "dataset_sha256": dataset.checksum(),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_seconds": round(seconds, 1),
        "epochs": settings.epochs,
        "seed": settings.seed,
        "negatives": settings.negatives,
        "variants": settings.variants,
        "typeset": settings.typeset,
        "members": settings.members,
        "versions": {
            "digitwatch": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _metrics(
    history: dict[str, list[float]], calibration: dict[str, float], test_accuracy: float, matrix: np.ndarray
) -> dict[str, object]:
    """Numbers for a person or a dashboard: accuracy, calibration, per-epoch history."""
    return {
        "test_accuracy": test_accuracy,
        "test_errors": int(matrix.sum() - np.trace(matrix)),
        "confusion_matrix": matrix.tolist(),
        "calibration": calibration,
        "history": {key: [float(v) for v in values] for key, values in history.items()},
    }
