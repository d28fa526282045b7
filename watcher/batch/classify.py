"""Classify files and folders given on the command line, in chunks, writing rows as it goes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watcher.batch.collect import InputError, collect_files
from watcher.model.classifier import Classifier
from watcher.pipeline.core import Page, rows_for
from watcher.pipeline.eligibility import SkipKind
from watcher.protocol import Status
from watcher.reading.imaging import Prepared
from watcher.reading.pool import prepared_in_order
from watcher.results.csv_file import CsvStore
from watcher.results.csv_text import StdoutStore
from watcher.results.store import ResultStore
from watcher.settings import ClassifySettings

__all__ = ["BatchSummary", "InputError", "classify"]

log = logging.getLogger(__name__)

CHUNK = 512  # files per chunk: one model call, and rows become durable and progress is reported, per chunk


@dataclass(frozen=True)
class BatchSummary:
    """Rows per status after a classify run, the files read, and how many files found in folders were
    skipped, by kind."""

    counts: dict[Status, int]
    skipped: dict[SkipKind, int] = field(default_factory=dict)
    files: int = 0

    @property
    def total(self) -> int:
        """Rows written (one per file, or per page of a document)."""
        return sum(self.counts.values())


def classify(
    settings: ClassifySettings, *, classifier: Classifier | None = None, workers: int | None = None
) -> BatchSummary:
    """Classify every file named or found under the folders named; one row per file (per page of a document).

    Files are read and normalised by `workers` processes (default: one per
    core) while this one runs the model on chunks and writes their rows.
    """
    found = collect_files(settings.paths, settings.patterns)
    jobs = found.files
    # Opened first: a results file that is not ours is refused before any work starts.
    store: ResultStore = (
        CsvStore(settings.results, neutralise_formulas=settings.neutralise_formulas)
        if settings.results
        else StdoutStore(neutralise_formulas=settings.neutralise_formulas)
    )
    try:
        with prepared_in_order(
            [path for path, _ in jobs],
            workers=workers,
            max_pages=settings.max_pages,
            read_timeout=settings.read_timeout,
        ) as prepared:
            classifier = classifier or Classifier(settings.model)  # loads while the workers start
            counts = _classify_chunks(jobs, prepared, classifier, store)
    finally:
        store.close()
    return BatchSummary(counts=dict(counts), skipped=dict(found.skipped), files=len(jobs))


def _classify_chunks(
    jobs: list[tuple[Path, str]], prepared: Iterator[list[Prepared]], classifier: Classifier, store: ResultStore
) -> Counter[Status]:
    """One model call and one durable write per chunk of files; returns the counts per status."""
    counts: Counter[Status] = Counter()
    for start in range(0, len(jobs), CHUNK):
        chunk = jobs[start : start + CHUNK]
        rows = rows_for(classifier, [Page(name, page) for _, name in chunk for page in next(prepared)])
        counts.update(row.status for row in rows)
        store.append(rows)
        log.info("classified %d/%d files", min(start + CHUNK, len(jobs)), len(jobs))
    return counts
