"""Benchmark: MNIST test digits rendered as realistic scans and photos, through the real product path.

Usage: python benchmarks/bench_scans.py [--model PATH] [--digits N] [--seed S] [--out DIR]
                                       [--non-digits M] [--failures DIR] [--data MNIST]

Each test digit is rendered as a file in one condition of `scan_render.CONDITIONS`
(the conditions take turns), and images holding no digit are rendered alongside.
All files go through `Classifier.classify_files`, exactly as the service reads
them; the same shipped model also gets the tutorial pipeline
(`Image.open().convert('L').resize((28, 28)) / 255`) as a baseline. Prints per
condition accuracy, the flagged share, the non-digits flagged per kind and the
runtime.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the figures

import scan_render
import scan_report
from scan_report import BenchResult, Sample
from train.data import DataError, load_mnist, normalise_digits
from watcher.classifier import Classifier, ModelError

log = logging.getLogger(__name__)

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@dataclass(frozen=True)
class BenchSettings:
    """What one benchmark run needs."""

    model: Path | None = None  # None: the shipped model
    data: Path | None = None  # None: the shared MNIST file if present, else the Keras download
    digits: int = 2000  # MNIST test digits rendered, the first N
    non_digits: int = 600  # images holding no digit, shared among the kinds
    seed: int = 0
    out: Path | None = None  # None: a temporary folder, removed afterwards
    failures: Path | None = None  # where contact sheets of failures go; None: none are made


def run_benchmark(settings: BenchSettings) -> BenchResult:
    """Render, classify with the product and with the tutorial pipeline; sheets of failures if asked."""
    classifier = Classifier(settings.model)  # fail on a bad model before rendering anything
    dataset = load_mnist(settings.data or (SHARED_MNIST if SHARED_MNIST.is_file() else None))
    images, labels = dataset.x_test[: settings.digits], dataset.y_test[: settings.digits]
    with tempfile.TemporaryDirectory(prefix="bench_scans_") as scratch:
        started = time.perf_counter()
        samples = write_samples(images, labels, settings, settings.out or Path(scratch))
        rendered = time.perf_counter()
        predictions = classifier.classify_files([sample.path for sample in samples])
        classified = time.perf_counter()
        result = BenchResult(
            samples=samples,
            statuses=np.array([p.status for p in predictions]),
            digits=np.array([-1 if p.digit is None else p.digit for p in predictions]),
            confidences=np.array([np.nan if p.confidence is None else p.confidence for p in predictions]),
            tutorial=tutorial_digits(keras_model(classifier.model_path), [sample.path for sample in samples]),
            reference=reference_figures(classifier, images, labels),
            header=f"{settings.digits} MNIST test digits, {settings.non_digits} non-digits, seed {settings.seed}, "
            f"model {classifier.model_path} (uncertain below {classifier.uncertain_below:.3f})",
        )
        result.seconds = {
            "render": rendered - started,
            "product": classified - rendered,
            "tutorial": time.perf_counter() - classified,
        }
        if settings.failures:
            scan_report.write_failure_sheets(result, settings.failures)
    return result


def write_samples(images: np.ndarray, labels: np.ndarray, settings: BenchSettings, folder: Path) -> list[Sample]:
    """Render the digits and the non-digits as files under `folder`, one subfolder per condition or kind."""
    samples = []
    for index, (condition, file) in enumerate(scan_render.digit_files(images, seed=settings.seed)):
        path = _write(folder / "digits" / scan_report.slug(condition), f"{index:05d}_{labels[index]}", file)
        samples.append(Sample(path=path, group=condition, label=int(labels[index])))
    for index, (kind, file) in enumerate(scan_render.non_digit_files(settings.non_digits, seed=settings.seed)):
        path = _write(folder / "non_digits" / scan_report.slug(kind), f"{index:05d}", file)
        samples.append(Sample(path=path, group=kind, label=None))
    log.info("rendered %d files under %s", len(samples), folder)
    return samples


def reference_figures(classifier: Classifier, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and flagged share on the same digits as plain MNIST arrays: the ceiling for the renderings."""
    probs = np.concatenate(
        [
            classifier.probabilities(normalise_digits(images[start : start + 1024]))
            for start in range(0, len(images), 1024)
        ]
    )
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    return accuracy, float((probs.max(axis=1) < classifier.uncertain_below).mean())


def _write(folder: Path, stem: str, file: scan_render.Rendered) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{file.suffix}"
    path.write_bytes(file.data)
    return path


def keras_model(model_path: Path):
    """The Keras model itself, for the tutorial pipeline (the product may run its LiteRT export)."""
    from watcher.backends import import_keras_quietly

    return import_keras_quietly().models.load_model(model_path.with_suffix(".keras"), compile=False)


def tutorial_digits(model, paths: list[Path], *, batch: int = 256) -> np.ndarray:
    """The tutorial pipeline: open, convert('L'), resize to 28x28, divide by 255, predict; -1 if it fails."""
    shape = tuple(model.input_shape[1:])
    inputs = np.zeros((len(paths), 28, 28), dtype=np.float32)
    readable = np.ones(len(paths), dtype=bool)
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                inputs[index] = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) / 255.0
        except (OSError, ValueError) as exc:
            log.info("tutorial pipeline cannot read %s: %s", path, exc)
            readable[index] = False
    digits = np.empty(len(paths), dtype=int)
    for start in range(0, len(paths), batch):
        chunk = inputs[start : start + batch].reshape((-1,) + shape)
        digits[start : start + batch] = np.asarray(model.predict_on_batch(chunk)).argmax(axis=1)
    return np.where(readable, digits, -1)


def main(
    model: Annotated[
        Path | None,
        typer.Option(
            help="A .keras model. Default: the shipped model.",
            envvar="DIGITWATCH_MODEL",
            exists=True,
            dir_okay=False,
            resolve_path=True,
        ),
    ] = None,
    digits: Annotated[int, typer.Option(min=1, max=10_000, help="MNIST test digits to render (the first N).")] = 2000,
    non_digits: Annotated[int, typer.Option(min=0, help="Images holding no digit to render.")] = 600,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives byte-identical files.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Keep the rendered files here. Default: a temporary folder.", file_okay=False, resolve_path=True
        ),
    ] = None,
    failures: Annotated[
        Path | None, typer.Option(help="Write contact sheets of failures here.", file_okay=False, resolve_path=True)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="MNIST as a Keras-layout .npz or an IDX folder.",
            envvar="DIGITWATCH_DATA",
            exists=True,
            resolve_path=True,
        ),
    ] = None,
) -> None:
    """Render MNIST test digits as realistic scans, classify them and print the figures."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = BenchSettings(
        model=model, data=data, digits=digits, non_digits=non_digits, seed=seed, out=out, failures=failures
    )
    try:
        result = run_benchmark(settings)
    except (ModelError, DataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(scan_report.format_report(result))


if __name__ == "__main__":
    typer.run(main)
