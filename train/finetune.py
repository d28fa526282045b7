"""Teach a model the users' own writers: fine-tune it on the images people corrected, replaying MNIST.

The corrections are split once (seeded): most are learnt from, the rest are
held out to measure the model before and after and to re-fit its
temperature and threshold. MNIST training digits are replayed beside the
corrections, and batch normalisation keeps MNIST's statistics, so the model
learns the new hands without forgetting the old ones. Without --data those
digits, and the MNIST test digits it is measured on, are the few thousand
shipped in the package (train/replay), so it runs offline.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from train import calibrate, report
from train.corrected import NOT_A_DIGIT_LABEL, Corrected, gather
from train.data import ReplaySource, load_replay, normalise_digits
from train.export import export_litert
from train.fit import CLASSES, one_hot, training_stream
from watcher.model.backends import import_keras_quietly
from watcher.model.classifier import default_model_path, read_metadata

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

MIN_CORRECTIONS = 20  # fewer digits than this teach nothing and cannot be held out from
CALIBRATION_MNIST = 2000  # MNIST validation digits beside the held-out corrections, so a few cannot swing T


class FineTuneError(Exception):
    """Fine-tuning cannot start: too few usable corrections, or a base model that is not Keras."""


@dataclass(frozen=True)
class FineTuneSettings:
    """What `digitwatch train --corrections` needs."""

    corrections: Path
    output: Path
    images: tuple[Path, ...]
    base: Path | None = None  # None: the shipped model
    data: Path | None = None  # MNIST, replayed and tested on; None: the digits shipped in the package
    epochs: int = 3
    seed: int = 0
    held_out: float = 0.2  # share of the corrections kept out of training, to measure and calibrate on
    replay: int = 6000  # MNIST training digits learnt beside the corrections
    correction_share: float = 0.25  # of each epoch: corrections are repeated until they make up this much
    learning_rate: float = 3e-4
    batch_size: int = 64
    verbose: int = 2


@dataclass(frozen=True)
class Accuracy:
    """Accuracy on the held-out corrections' digits and on the MNIST test digits at hand, of one model."""

    held_out: float
    mnist_test: float


@dataclass(frozen=True)
class MnistUsed:
    """Which MNIST digits a fine-tuning used, and how many of each kind; recorded in the metadata."""

    replay_source: ReplaySource
    replay_data: str  # the file or folder they came from
    replayed: int  # training digits learnt beside the corrections
    calibrated_on: int  # training digits the temperature and threshold were fitted on, besides
    mnist_tested_on: int  # test digits `before` and `after` were measured on

    def describe(self) -> str:
        """One line: where the MNIST digits came from and how many served each purpose."""
        shipped = self.replay_source is ReplaySource.SHIPPED
        where = "shipped with digitwatch (--data for the full MNIST)" if shipped else f"from {self.replay_data}"
        return (
            f"MNIST digits {where}: {self.replayed:,} training digits replayed, {self.calibrated_on:,} calibrated on, "
            f"{self.mnist_tested_on:,} test digits measured on"
        )


@dataclass(frozen=True)
class FineTuneResult:
    """What a fine-tuning run reports."""

    model_path: Path
    learnt_from: int
    held_out: int
    skipped: dict[str, int]
    before: Accuracy
    after: Accuracy
    temperature: float
    threshold: float
    seconds: float
    mnist: MnistUsed


def fine_tune(settings: FineTuneSettings) -> FineTuneResult:
    """Fine-tune the base model on the corrected images and write the new model beside its metadata."""
    keras_api = import_keras_quietly()
    started = time.monotonic()
    keras_api.utils.set_random_seed(settings.seed)
    corrected = gather(settings.corrections, settings.images)
    fit_part, held = _split(corrected, settings)
    base_path = settings.base or default_model_path()
    if base_path.suffix != ".keras":
        raise FineTuneError(f"--base must be a .keras model (fine-tuning needs its weights), got {base_path}")
    model = keras_api.models.load_model(base_path, compile=False)
    dataset, source = load_replay(settings.data)
    replay, calibration = _mnist_parts(dataset.x_train, dataset.y_train, settings)
    log.info("MNIST from %s (%s): %d replayed, %d to calibrate on, %d to test on",
             dataset.source, source, len(replay[1]), len(calibration[1]), len(dataset.y_test))  # fmt: skip
    mnist_test = normalise_digits(dataset.x_test), dataset.y_test
    before = _accuracy(model, held, mnist_test)
    log.info("before: held-out corrections %.2f%%, MNIST test %.2f%%", 100 * before.held_out, 100 * before.mnist_test)
    _fit(model, fit_part, replay, settings)
    tuned = keras_api.models.load_model(base_path, compile=False)  # a fresh copy: saved without optimizer state
    tuned.set_weights(model.get_weights())
    after = _accuracy(tuned, held, mnist_test)
    log.info("after: held-out corrections %.2f%%, MNIST test %.2f%%", 100 * after.held_out, 100 * after.mnist_test)
    temperature, threshold = _calibrate(tuned, held, calibration)
    seconds = time.monotonic() - started
    mnist = MnistUsed(source, dataset.source, len(replay[1]), len(calibration[1]), len(dataset.y_test))
    _save(tuned, base_path, settings, corrected, (len(fit_part.labels), len(held.labels)), (before, after),
          (temperature, threshold), seconds, mnist)  # fmt: skip
    return FineTuneResult(
        model_path=settings.output,
        learnt_from=len(fit_part.labels),
        held_out=len(held.labels),
        skipped={str(reason): count for reason, count in corrected.skipped.items()},
        before=before,
        after=after,
        temperature=temperature,
        threshold=threshold,
        seconds=seconds,
        mnist=mnist,
    )


def _split(corrected: Corrected, settings: FineTuneSettings) -> tuple[Corrected, Corrected]:
    """The corrections to learn from and those held out, split once with the seed."""
    usable = len(corrected.labels)
    if usable < MIN_CORRECTIONS:
        skipped = ", ".join(f"{count} {reason}" for reason, count in corrected.skipped.items()) or "none skipped"
        raise FineTuneError(
            f"{usable} usable corrections in {settings.corrections} ({skipped}); fine-tuning needs at least "
            f"{MIN_CORRECTIONS}. Check --images points at the folders holding the corrected files."
        )
    order = np.random.default_rng(settings.seed).permutation(usable)
    cut = max(1, round(settings.held_out * usable))
    return _subset(corrected, order[cut:]), _subset(corrected, order[:cut])


def _mnist_parts(
    images: np.ndarray, labels: np.ndarray, settings: FineTuneSettings
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Normalised MNIST training digits to replay, and others to calibrate on (fewer when MNIST is small)."""
    # What replay leaves over, up to CALIBRATION_MNIST (so the shipped 8,000 give 6,000 + 2,000, as the full
    # MNIST does), but never less than a fifth (a small MNIST keeps some to calibrate on).
    calibrating = min(CALIBRATION_MNIST, max(len(images) // 5, len(images) - settings.replay))
    replaying = min(settings.replay, len(images) - calibrating)
    chosen = np.random.default_rng(settings.seed).choice(len(images), replaying + calibrating, replace=False)
    replay, calibration = chosen[:replaying], chosen[replaying:]
    return (normalise_digits(images[replay]), labels[replay]), (
        normalise_digits(images[calibration]),
        labels[calibration],
    )


def _subset(corrected: Corrected, rows: np.ndarray) -> Corrected:
    return Corrected(
        images=corrected.images[rows],
        labels=corrected.labels[rows],
        names=[corrected.names[i] for i in rows],
        corrections_sha256=corrected.corrections_sha256,
    )


def _targets(labels: np.ndarray) -> np.ndarray:
    """One-hot targets; "not a digit" gets the uniform target the training's non-digits have."""
    targets = one_hot(np.maximum(labels, 0))
    targets[labels == NOT_A_DIGIT_LABEL] = 1.0 / len(CLASSES)
    return targets


def _fit(
    model: keras.Model, fit_part: Corrected, replay: tuple[np.ndarray, np.ndarray], settings: FineTuneSettings
) -> None:
    """Train every weight but batch normalisation's on corrections (repeated) and replayed MNIST."""
    keras_api = import_keras_quietly()
    for layer in _layers(model):
        if isinstance(layer, keras_api.layers.BatchNormalization):
            layer.trainable = False  # keeps MNIST's statistics; a few hundred images would skew them
    x_replay, y_replay = replay
    repeat = max(1, round(settings.correction_share * len(y_replay) / max(1, len(fit_part.labels))))
    x = np.concatenate([x_replay, np.repeat(fit_part.images, repeat, axis=0)])
    y = np.concatenate([one_hot(y_replay), np.repeat(_targets(fit_part.labels), repeat, axis=0)])
    steps = int(np.ceil(len(x) / settings.batch_size)) * settings.epochs
    schedule = keras_api.optimizers.schedules.CosineDecay(settings.learning_rate, steps)
    model.compile(
        optimizer=keras_api.optimizers.Adam(schedule),
        loss=keras_api.losses.CategoricalCrossentropy(from_logits=True),
    )
    log.info("fine-tuning on %d corrections (each %d times) and %d MNIST digits, %d epochs",
             len(fit_part.labels), repeat, len(y_replay), settings.epochs)  # fmt: skip
    stream = training_stream(x, y, seed=settings.seed, batch_size=settings.batch_size)
    model.fit(stream, epochs=settings.epochs, verbose=settings.verbose, shuffle=False)


def _layers(model: keras.Model) -> Iterator[Any]:
    """Every layer, those of nested models (the members of an averaged model) included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _accuracy(model: keras.Model, held: Corrected, mnist_test: tuple[np.ndarray, np.ndarray]) -> Accuracy:
    digits = held.labels != NOT_A_DIGIT_LABEL
    held_predicted = model.predict(held.images[digits], batch_size=512, verbose=0).argmax(axis=1)
    test_predicted = model.predict(mnist_test[0], batch_size=1024, verbose=0).argmax(axis=1)
    return Accuracy(
        held_out=float((held_predicted == held.labels[digits]).mean()) if digits.any() else float("nan"),
        mnist_test=float((test_predicted == mnist_test[1]).mean()),
    )


def _calibrate(model: keras.Model, held: Corrected, calibration: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Temperature and threshold from the held-out corrections' digits with some MNIST validation digits."""
    digits = held.labels != NOT_A_DIGIT_LABEL
    images = np.concatenate([held.images[digits], calibration[0]])
    labels = np.concatenate([held.labels[digits], calibration[1]])
    logits = model.predict(images, batch_size=1024, verbose=0)
    temperature = calibrate.fit_temperature(logits, labels)
    threshold = calibrate.choose_threshold(calibrate.probabilities(logits, temperature).max(axis=1))
    return temperature, threshold


def _save(
    model: keras.Model,
    base_path: Path,
    settings: FineTuneSettings,
    corrected: Corrected,
    sizes: tuple[int, int],
    accuracy: tuple[Accuracy, Accuracy],
    calibration: tuple[float, float],
    seconds: float,
    mnist: MnistUsed,
) -> None:
    """The .keras, its .tflite and its metadata: the base's, updated, with what it learnt from."""
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(settings.output)
    export_litert(settings.output)
    before, after = accuracy
    metadata = dict(read_metadata(base_path))
    metadata.update(
        temperature=calibration[0],
        uncertain_below=calibration[1],
        test_accuracy=after.mnist_test,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        fine_tuned={
            "base_model": str(base_path),
            "base_sha256": hashlib.sha256(base_path.read_bytes()).hexdigest(),
            "corrections": str(settings.corrections),
            "corrections_sha256": corrected.corrections_sha256,
            "learnt_from": sizes[0],
            "held_out": sizes[1],
            "skipped": {str(reason): count for reason, count in corrected.skipped.items()},
            "held_out_accuracy_before": before.held_out,
            "held_out_accuracy_after": after.held_out,
            "mnist_test_accuracy_before": before.mnist_test,
            "mnist_test_accuracy_after": after.mnist_test,
            **asdict(mnist),  # which MNIST digits (shipped or --data), how many replayed, calibrated and tested on
            "epochs": settings.epochs,
            "replay": settings.replay,
            "seed": settings.seed,
            "seconds": round(seconds, 1),
        },
    )
    report.write_json(report.artifact_paths(settings.output)["metadata"], metadata)
