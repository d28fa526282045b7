"""Read, classify and record a micro-batch of stable files: exactly one row per file and content.

Each file is read once (`prepare_file` hashes and normalises it), files
already in the ledger with the same content are skipped, the rest are
classified together in one call, their rows appended durably, and only
then are they moved or deleted. Every file is handled inside its own
try/except: one bad file never stops the service.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Iterator

from watcher.classifier import Classifier, Prediction
from watcher.disposal import Disposer
from watcher.imaging import Prepared
from watcher.logs import decision
from watcher.parallel import PreparePool, prepare_safely, release_free_memory
from watcher.results import ResultRow
from watcher.results_file import ResultsFile
from watcher.stability import Candidate, Signature, StabilityTracker, signature_of

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # decode failures tolerated while a file may still be growing
MIN_RETRY_WINDOW = 3.0  # seconds: a file changed more recently than this may still be growing
PARALLEL_FROM = 8  # files in a batch: fewer are read in this thread, quicker than handing them to workers


@dataclass
class Counts:
    """What the service has done since it started (for the periodic summary)."""

    seen: int = 0
    classified: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class Job:
    """A stable file being processed: where it is, its name in the CSV, and what reading it gave."""

    candidate: Candidate
    name: PurePosixPath
    prepared: Prepared = field(default_factory=lambda: Prepared(sha256=""))


class Processor:
    """Turns batches of stable files into durable rows, then applies --after."""

    def __init__(self, *, classifier: Classifier, sink: ResultsFile, ledger: dict[str, set[str]],
                 tracker: StabilityTracker, disposer: Disposer, settle: float,
                 pool: PreparePool | None = None) -> None:
        self.classifier = classifier
        self.sink = sink
        self.ledger = ledger
        self.tracker = tracker
        self.disposer = disposer
        self.retry_window = max(MIN_RETRY_WINDOW, 4 * settle)
        self.known: dict[str, Signature] = {}  # files recorded and kept, so rescans need not reread them
        self.counts = Counts()
        self.pool = pool  # decode workers for large batches; None: every file is read in this thread

    def is_known(self, name: str, stat: os.stat_result) -> bool:
        """True when this exact file (same size, times, inode) was already recorded and kept."""
        return self.known.get(name) == signature_of(stat)

    def forget_missing(self, present: set[str]) -> None:
        """Drop memory of kept files that have left the inbox, so memory stays flat."""
        for name in set(self.known) - present:
            del self.known[name]

    def process(self, batch: list[Job], stop: threading.Event) -> None:
        """Read the batch (stopping early if asked), classify it in one go, record and dispose."""
        jobs = []
        for job, prepared in zip(batch, self._prepare([job.candidate.path for job in batch])):
            if stop.is_set():
                break  # stop taking new files; the unread ones are found again on the next start
            job.prepared = prepared
            if self._needs_row(job):
                jobs.append(job)
        if not jobs:
            return
        predictions = self._classify([job.prepared for job in jobs])
        # Rows first, durably; a ResultsError here stops the service before anything is moved.
        self.sink.append([ResultRow(filename=str(job.name), prediction=p, sha256=job.prepared.sha256)
                          for job, p in zip(jobs, predictions)])
        for job, prediction in zip(jobs, predictions):
            self._after_row(job, prediction)
        release_free_memory()  # decoded pages go back to the system, so memory stays flat

    def _prepare(self, paths: list) -> Iterator[Prepared]:
        """Read and normalise the files, in order: in the decode workers when the batch is large."""
        if self.pool is None or len(paths) < PARALLEL_FROM:
            return (prepare_safely(path) for path in paths)
        return self.pool.prepare(paths)

    def _needs_row(self, job: Job) -> bool:
        """False when a prepared file needs no row now (vanished, retried or already recorded)."""
        name = str(job.name)
        if job.prepared.error is not None and not os.path.lexists(job.candidate.path):
            decision(log, logging.INFO, "vanished", name, "%s vanished before it could be read; no row")
            return False
        if job.prepared.error is not None and job.prepared.error.kind == "error" and self._may_grow(job):
            decision(log, logging.INFO, "retrying", name, "retrying %s: %s, and it may still be growing",
                     job.prepared.error.reason)
            self.tracker.retry_later(job.candidate, time.monotonic())
            return False
        if job.prepared.sha256 in self.ledger.get(name, ()):
            self.counts.skipped += 1
            decision(log, logging.INFO, "skipped", name, "skipped %s: already recorded with the same content")
            self._dispose(job, failed=job.prepared.error is not None)
            return False
        return True

    def _may_grow(self, job: Job) -> bool:
        """A file that failed to decode may be unfinished if it changed within the retry window."""
        if job.candidate.attempts >= MAX_ATTEMPTS:
            return False
        try:
            stat = os.stat(job.candidate.path)
        except OSError:
            return False
        return time.time() - max(stat.st_mtime, stat.st_ctime) < self.retry_window

    def _classify(self, items: list[Prepared]) -> list[Prediction]:
        """One model call for the whole batch; if that fails, one call per file to isolate the culprit."""
        try:
            return self.classifier.classify_prepared(items)
        except Exception:
            log.exception("classifying a batch of %d files failed; classifying them one by one", len(items))
        predictions = []
        for item in items:
            try:
                predictions.extend(self.classifier.classify_prepared([item]))
            except Exception as exc:
                predictions.append(Prediction(status="error", detail=f"classification failed: {exc}"))
        return predictions

    def _after_row(self, job: Job, prediction: Prediction) -> None:
        """Log the outcome, remember it in the ledger, then keep, move or delete the file."""
        name = str(job.name)
        self.ledger.setdefault(name, set()).add(job.prepared.sha256)
        failed = prediction.status == "error"
        if failed:
            self.counts.failed += 1
            decision(log, logging.WARNING, "failed", name, "failed %s: %s", prediction.detail)
        else:
            self.counts.classified += 1
            decision(log, logging.INFO, "classified", name, "classified %s: %s digit=%s confidence=%s",
                     prediction.status, prediction.digit,
                     "" if prediction.confidence is None else f"{prediction.confidence:.4f}")
        self._dispose(job, failed=failed)

    def _dispose(self, job: Job, *, failed: bool) -> None:
        """Apply --after; a kept file is remembered by its signature so rescans skip it cheaply."""
        name = str(job.name)
        if not self.disposer.dispose(job.candidate.path, job.name, failed=failed):
            self.known.pop(name, None)  # not disposed: let the next rescan offer it again
        elif self.disposer.after == "keep" and job.candidate.stat is not None:
            self.known[name] = signature_of(job.candidate.stat)

