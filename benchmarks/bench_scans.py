"""Benchmark: MNIST test digits rendered as realistic scans and photos, through the real product path.

Usage: python benchmarks/bench_scans.py [--model PATH] [--digits N] [--hairline H] [--seed S] [--out DIR]
                                       [--non-digits M] [--documents D] [--failures DIR] [--data MNIST]

Each of the first N test digits is rendered as a file in one condition of
`scan_render.CONDITIONS` (the conditions take turns); the first H of them are
drawn again in `hairline_render.CONDITIONS` (hairline typefaces, a fine
ballpoint). Then D documents of
`scan_documents.DOCUMENTS` (PDFs, multi-page TIFFs, HEIC photos, A4 pages; the
conditions take turns) hold the digits that follow, one per page, and images
holding no digit are rendered alongside. Every file is read once with
`prepare_file` and its rows classified with `classify_prepared`, as the service
does; each page is scored against the digit drawn on it. The same shipped model
also gets the tutorial pipeline (`Image.open().convert('L').resize((28, 28)) / 255`)
as a baseline. Prints per condition accuracy, the flagged share, the non-digits
flagged per kind, pages read per second and the runtime.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the figures

import hairline_render
import scan_documents
import scan_render
import scan_report
from scan_report import BenchResult, Sample
from train.data import DataError, load_mnist, normalise_digits
from watcher.model.classifier import Classifier, ModelError
from watcher.reading.imaging import Prepared, prepare_file
from watcher.reading.loading import ImageError

log = logging.getLogger(__name__)

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@dataclass(frozen=True)
class BenchSettings:
    """What one benchmark run needs."""

    model: Path | None = None  # None: the shipped model
    data: Path | None = None  # None: the shared MNIST file if present, else the Keras download
    digits: int = 2000  # MNIST test digits rendered, the first N
    hairline: int = 1000  # the first N test digits again, in hairline typefaces and with a fine ballpoint
    non_digits: int = 600  # images holding no digit, shared among the kinds
    documents: int = 600  # PDFs, multi-page TIFFs, HEIC photos and A4 pages, the document conditions in turn
    seed: int = 0
    out: Path | None = None  # None: a temporary folder, removed afterwards
    failures: Path | None = None  # where contact sheets of failures go; None: none are made


def run_benchmark(settings: BenchSettings) -> BenchResult:
    """Render, classify with the product and with the tutorial pipeline; sheets of failures if asked."""
    classifier = Classifier(settings.model)  # fail on a bad model before rendering anything
    dataset = load_mnist(settings.data or (SHARED_MNIST if SHARED_MNIST.is_file() else None))
    with tempfile.TemporaryDirectory(prefix="bench_scans_") as scratch:
        started = time.perf_counter()
        samples = write_samples(dataset.x_test, dataset.y_test, settings, settings.out or Path(scratch))
        rendered = time.perf_counter()
        prepared, read_seconds = read_samples(samples)
        predictions = classifier.classify_prepared(prepared)
        classified = time.perf_counter()
        digit_rows = [index for index, sample in enumerate(samples) if sample.mnist is not None]
        used = [samples[index].mnist for index in digit_rows]
        arrays, reference = array_figures(classifier, dataset.x_test[used], dataset.y_test[used])
        pages = sum(sample.document for sample in samples)
        result = BenchResult(
            samples=samples,
            statuses=np.array([p.status for p in predictions]),
            digits=np.array([-1 if p.digit is None else p.digit for p in predictions]),
            confidences=np.array([np.nan if p.confidence is None else p.confidence for p in predictions]),
            details=np.array([p.detail for p in predictions]),
            tutorial=tutorial_digits(keras_model(classifier.model_path), samples),
            read_seconds=read_seconds,
            arrays=_spread(arrays, digit_rows, len(samples)),
            reference=reference,
            header=f"{settings.digits} MNIST test digits, {settings.documents} documents ({pages} pages), "
            f"{settings.hairline} hairline digits, {settings.non_digits} non-digits, seed {settings.seed}, "
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
    """Render the first `settings.digits` of the digits, then the documents, then the non-digits, as files
    under `folder`, one subfolder per condition or kind."""
    samples = []
    first = images[: settings.digits]
    for index, (condition, file) in enumerate(scan_render.digit_files(first, seed=settings.seed)):
        path = _write(folder / "digits" / scan_report.slug(condition), f"{index:05d}_{labels[index]}", file)
        samples.append(Sample(path=path, group=condition, label=int(labels[index]), mnist=index))
    if settings.hairline:
        hairline_render.check_fonts()
        count = settings.hairline
        drawn = hairline_render.hairline_files(images[:count], labels[:count], seed=settings.seed)
        for index, (condition, file) in enumerate(drawn):
            path = _write(folder / "hairline" / scan_report.slug(condition), f"{index:05d}_{labels[index]}", file)
            samples.append(Sample(path=path, group=condition, label=int(labels[index]), mnist=index))
    samples += write_documents(images, labels, settings, folder / "documents")
    for index, (kind, file) in enumerate(scan_render.non_digit_files(settings.non_digits, seed=settings.seed)):
        path = _write(folder / "non_digits" / scan_report.slug(kind), f"{index:05d}", file)
        samples.append(Sample(path=path, group=kind, label=None))
    log.info("rendered %d files under %s", len(samples), folder)
    return samples


def write_documents(images: np.ndarray, labels: np.ndarray, settings: BenchSettings, folder: Path) -> list[Sample]:
    """Render the documents, their pages holding the digits after the first `settings.digits` (wrapping
    round to the start of the test set); one Sample per page."""
    order = np.roll(np.arange(len(images)), -settings.digits)  # pool position -> MNIST test index
    samples = []
    for document in scan_documents.document_files(images[order], settings.documents, seed=settings.seed):
        indices = [int(order[position]) for position in document.digits]
        stem = f"{indices[0]:05d}_" + "-".join(str(labels[index]) for index in indices)
        path = _write(folder / scan_report.slug(document.condition), stem, document.file)
        for page, index in enumerate(indices, start=1):
            number = page if len(indices) > 1 or document.file.suffix == ".pdf" else None  # a PDF's pages are numbered
            samples.append(Sample(path, document.condition, int(labels[index]), number, document=True, mnist=index))
    return samples


def read_samples(samples: Sequence[Sample]) -> tuple[list[Prepared], np.ndarray]:
    """Read each file once with the product's `prepare_file`; each sample's row, and the seconds the
    reading took shared among the file's pages."""
    prepared: list[Prepared] = []
    seconds: list[float] = []
    for path, group in itertools.groupby(samples, key=lambda sample: sample.path):
        pages = list(group)
        started = time.perf_counter()
        rows = prepare_file(path)
        elapsed = time.perf_counter() - started
        if len(rows) != len(pages):
            log.warning("%s: the product gave %d rows for %d pages", path, len(rows), len(pages))
        prepared += [_row_for(sample, rows) for sample in pages]
        seconds += [elapsed / len(pages)] * len(pages)
    return prepared, np.array(seconds)


def _row_for(sample: Sample, rows: list[Prepared]) -> Prepared:
    """The product's row for a sample's page; a single error row for the whole file stands for every page."""
    for row in rows:
        if row.page == sample.page:
            return row
    if len(rows) == 1 and rows[0].page is None and rows[0].error is not None:
        return rows[0]
    return Prepared(sha256="", error=ImageError(f"no row for page {sample.page} among {len(rows)} rows"))


def array_figures(
    classifier: Classifier, images: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """The model's digit for each digit as a plain MNIST array, and the accuracy and flagged share over
    them all: the ceiling for the renderings."""
    probs = np.concatenate(
        [
            classifier.probabilities(normalise_digits(images[start : start + 1024]))
            for start in range(0, len(images), 1024)
        ]
    )
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    return probs.argmax(axis=1), (accuracy, float((probs.max(axis=1) < classifier.uncertain_below).mean()))


def _spread(values: np.ndarray, rows: list[int], count: int) -> np.ndarray:
    """Values for some rows laid out over `count` rows, -1 in the others."""
    spread = np.full(count, -1, dtype=int)
    spread[rows] = values
    return spread


def _write(folder: Path, stem: str, file: scan_render.Rendered) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{file.suffix}"
    path.write_bytes(file.data)
    return path


def keras_model(model_path: Path):
    """The Keras model itself, for the tutorial pipeline (the product may run its LiteRT export)."""
    from watcher.model.backends import import_keras_quietly

    return import_keras_quietly().models.load_model(model_path.with_suffix(".keras"), compile=False)


def tutorial_digits(model, samples: Sequence[Sample], *, batch: int = 256) -> np.ndarray:
    """The tutorial pipeline: open, convert('L'), resize to 28x28, divide by 255, predict; -1 if it fails."""
    shape = tuple(model.input_shape[1:])
    inputs = np.zeros((len(samples), 28, 28), dtype=np.float32)
    readable = np.ones(len(samples), dtype=bool)
    for index, sample in enumerate(samples):
        try:
            with Image.open(sample.path) as image:
                image.seek((sample.page or 1) - 1)  # a TIFF's page; Pillow cannot open a PDF at all
                inputs[index] = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) / 255.0
        except (OSError, ValueError, EOFError) as exc:
            log.info("tutorial pipeline cannot read %s: %s", sample.path, exc)
            readable[index] = False
    digits = np.empty(len(samples), dtype=int)
    for start in range(0, len(samples), batch):
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
    hairline: Annotated[
        int,
        typer.Option(
            min=0,
            help="The first N test digits again in hairline typefaces and with a fine ballpoint "
            "(needs the bench extra and Debian's fonts; 0: none).",
        ),
    ] = 1000,
    non_digits: Annotated[int, typer.Option(min=0, help="Images holding no digit to render.")] = 600,
    documents: Annotated[
        int,
        typer.Option(
            min=0, help="PDFs, multi-page TIFFs, HEIC photos and A4 pages to render; their pages hold the next digits."
        ),
    ] = 600,
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
        model=model,
        data=data,
        digits=digits,
        hairline=hairline,
        non_digits=non_digits,
        documents=documents,
        seed=seed,
        out=out,
        failures=failures,
    )
    try:
        result = run_benchmark(settings)
    except (ModelError, DataError, hairline_render.MissingFontError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(scan_report.format_report(result))


if __name__ == "__main__":
    typer.run(main)
