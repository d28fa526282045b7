"""Classify files and folders given on the command line, in batches, writing rows as it goes."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from watcher.classifier import Classifier
from watcher.imaging import Prepared
from watcher.parallel import prepared_in_order
from watcher.results import ResultRow, write_to_stdout
from watcher.results_file import ResultsFile
from watcher.settings import ClassifySettings

log = logging.getLogger(__name__)

CHUNK = 512  # files per chunk: one model call, and rows become durable and progress is reported, per chunk


class InputError(Exception):
    """A path given on the command line does not exist."""


@dataclass(frozen=True)
class BatchSummary:
    """Counts per status after a classify run."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def classify(
    settings: ClassifySettings, *, classifier: Classifier | None = None, workers: int | None = None
) -> BatchSummary:
    """Classify every file named or found under the folders named; one row per file.

    Files are read and normalised by `workers` processes (default: one per
    core) while this one runs the model on chunks and writes their rows.
    """
    jobs = list(collect_files(settings.paths, settings.patterns))
    with prepared_in_order([path for path, _ in jobs], workers=workers) as prepared:
        classifier = classifier or Classifier(settings.model)  # loads while the workers start
        sink = (
            ResultsFile(settings.results, neutralise_formulas=settings.neutralise_formulas)
            if settings.results
            else None
        )
        try:
            counts = _classify_chunks(jobs, prepared, classifier, sink, settings)
        finally:
            if sink:
                sink.close()
    if not jobs and not settings.results:
        write_to_stdout([], header=True)
    return BatchSummary(counts=counts)


def _classify_chunks(
    jobs: list[tuple[Path, str]],
    prepared: Iterator[Prepared],
    classifier: Classifier,
    sink: ResultsFile | None,
    settings: ClassifySettings,
) -> dict[str, int]:
    """One model call and one durable write per chunk of files; returns the counts per status."""
    counts: dict[str, int] = {}
    for start in range(0, len(jobs), CHUNK):
        chunk = jobs[start : start + CHUNK]
        items = [next(prepared) for _ in chunk]
        predictions = classifier.classify_prepared(items)
        rows = [
            ResultRow(filename=name, prediction=p, sha256=item.sha256)
            for (_, name), item, p in zip(chunk, items, predictions, strict=True)
        ]
        for row in rows:
            counts[row.prediction.status] = counts.get(row.prediction.status, 0) + 1
        if sink:
            sink.append(rows)
        else:
            write_to_stdout(rows, header=start == 0, neutralise_formulas=settings.neutralise_formulas)
        log.info("classified %d/%d files", min(start + CHUNK, len(jobs)), len(jobs))
    return counts


def collect_files(paths: tuple[Path, ...], patterns: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    """Yield (path, name for the CSV): files as given, folders searched recursively for images.

    Names found in a folder are relative to that folder, with '/' separators.
    """
    for given in paths:
        if given.is_file():
            yield given, str(given)
        elif given.is_dir():
            base = len(given.parts)
            # Sorting on the parts tuples orders as Path does, several times faster for 10,000 files.
            for found in sorted(given.rglob("*"), key=lambda path: path.parts):
                relative = found.parts[base:]
                if is_image_name(found.name, patterns) and not _hidden(relative) and found.is_file():
                    yield found, "/".join(relative)
        else:
            raise InputError(f"no such file or folder: {given}")


def is_image_name(name: str, patterns: tuple[str, ...]) -> bool:
    """True when the file name matches one of the image patterns (case-insensitive)."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") for part in parts)
