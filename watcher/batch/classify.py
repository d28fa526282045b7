"""Classify files and folders given on the command line, in batches, writing rows as it goes."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from watcher.model.classifier import Classifier
from watcher.ops.logs import decision
from watcher.reading.imaging import Prepared
from watcher.reading.pool import prepared_in_order
from watcher.results.csv_file import ResultsFile
from watcher.results.rows import ResultRow, write_to_stdout
from watcher.service.inbox import is_utf8, link_escapes, scan, why_ignored
from watcher.settings import ClassifySettings

log = logging.getLogger(__name__)

CHUNK = 512  # files per chunk: one model call, and rows become durable and progress is reported, per chunk


class InputError(Exception):
    """A path given on the command line does not exist."""


@dataclass(frozen=True)
class BatchSummary:
    """Rows per status after a classify run, the files read, and how many files found in folders were
    skipped, by reason."""

    counts: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    files: int = 0

    @property
    def total(self) -> int:
        """Rows written (one per file, or per page of a document)."""
        return sum(self.counts.values())


@dataclass
class FoundFiles:
    """Files to classify, as (path, name for the CSV), and what was skipped, counted per reason."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


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
    sink = ResultsFile(settings.results, neutralise_formulas=settings.neutralise_formulas) if settings.results else None
    try:
        with prepared_in_order(
            [path for path, _ in jobs],
            workers=workers,
            max_pages=settings.max_pages,
            read_timeout=settings.read_timeout,
        ) as prepared:
            classifier = classifier or Classifier(settings.model)  # loads while the workers start
            counts = _classify_chunks(jobs, prepared, classifier, sink, settings)
    finally:
        if sink:
            sink.close()
    if not jobs and not settings.results:
        write_to_stdout([], header=True)
    return BatchSummary(counts=counts, skipped=dict(found.skipped), files=len(jobs))


def _classify_chunks(
    jobs: list[tuple[Path, str]],
    prepared: Iterator[list[Prepared]],
    classifier: Classifier,
    sink: ResultsFile | None,
    settings: ClassifySettings,
) -> dict[str, int]:
    """One model call and one durable write per chunk of files; returns the counts per status."""
    counts: dict[str, int] = {}
    for start in range(0, len(jobs), CHUNK):
        chunk = jobs[start : start + CHUNK]
        items = [(name, row) for _, name in chunk for row in next(prepared)]
        predictions = classifier.classify_prepared([row for _, row in items])
        rows = [
            ResultRow(filename=name, prediction=p, sha256=row.sha256, page=row.page)
            for (name, row), p in zip(items, predictions, strict=True)
        ]
        for row in rows:
            counts[row.prediction.status] = counts.get(row.prediction.status, 0) + 1
        if sink:
            sink.append(rows)
        else:
            write_to_stdout(rows, header=start == 0, neutralise_formulas=settings.neutralise_formulas)
        log.info("classified %d/%d files", min(start + CHUNK, len(jobs)), len(jobs))
    return counts


def collect_files(paths: tuple[Path, ...], patterns: tuple[str, ...]) -> FoundFiles:
    """Files named, and the files in folders named that `watch` would read (the same rules), with the rest counted.

    A file named on the command line is read whatever its name. In a folder,
    searched recursively, hidden, temporary and lock files, names that match no
    pattern, hidden and system folders, and links leading out of the folder are
    skipped, and counted by reason. Names found in a folder are relative to it,
    with '/' separators.
    """
    found = FoundFiles()
    for given in paths:
        if given.is_file():
            if not is_utf8(str(given)):
                raise InputError(f"{given!r}: its name is not valid UTF-8, so it cannot go into the CSV; rename it")
            found.files.append((given, str(given)))
        elif given.is_dir():
            found.files.extend(_eligible_files(given, patterns, found.skipped))
        else:
            raise InputError(f"no such file or folder: {given}")
    return found


def _eligible_files(folder: Path, patterns: tuple[str, ...], skipped: Counter[str]) -> list[tuple[Path, str]]:
    root = folder.resolve()
    prefix = len(str(Path(folder, "x"))) - 1  # scan() joins names onto the folder as given
    hidden_folders: list[Path] = []
    eligible: list[tuple[Path, str]] = []
    for path in scan(folder, recursive=True, skipped_folders=hidden_folders):
        name = PurePosixPath(str(path)[prefix:].replace(os.sep, "/"))
        reason = why_ignored(name, patterns=patterns)
        # scan() enters no linked folder, so only a file that is itself a link can lead out.
        if reason is None and path.is_symlink() and link_escapes(root, path):
            reason = "symbolic link leading out of the folder"
        elif reason is None and not path.is_file():
            reason = "not a regular file"
        if reason is None:
            eligible.append((path, str(name)))
        else:
            skipped[reason.split(" (")[0]] += 1  # "temporary, lock or ignored file (matches *.part)" -> the kind
            decision(log, logging.INFO, "ignored", str(name), "ignored %s: %s", reason)
    for hidden in hidden_folders:  # not entered: its files are not even listed
        skipped["hidden or system folder"] += 1
        decision(log, logging.INFO, "ignored", hidden.name, "ignored %s/: a hidden or system folder")
    # Sorted on the parts tuples: the order Path sorts in, several times faster for 10,000 files.
    return sorted(eligible, key=lambda pair: pair[0].parts)
