"""Read, classify and record a micro-batch of stable files: exactly one row per file and content.

Each file is read once (`prepare_file` hashes and normalises it), files
already in the ledger with the same content are skipped, the rest are
classified together in one call, their rows appended durably, and only
then are they moved or deleted. Every file is handled inside its own
try/except: one bad file never stops the service. The processor returns
what happened (`BatchOutcome`); the service keeps the counts and decides
what to retry.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from watcher.classifier import Classifier, Prediction
from watcher.disposal import Disposer
from watcher.imaging import Prepared
from watcher.logs import decision
from watcher.parallel import PreparePool, prepare_safely, release_free_memory
from watcher.protocol import After, Status
from watcher.results import ResultRow
from watcher.results_file import ResultsFile
from watcher.stability import Candidate, Signature, signature_of

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # decode failures tolerated while a file may still be growing
MIN_RETRY_WINDOW = 3.0  # seconds: a file changed more recently than this may still be growing
PARALLEL_FROM = 8  # files in a batch: fewer are read in this thread, quicker than handing them to workers


class StopFlag(Protocol):
    """Anything that says whether a stop was asked for (a threading.Event, a StopRequest)."""

    def is_set(self) -> bool: ...


@dataclass
class Job:
    """A stable file being processed: where it is, its name in the CSV, and what reading it gave."""

    candidate: Candidate
    name: PurePosixPath
    prepared: Prepared = field(default_factory=lambda: Prepared(sha256=""))


@dataclass
class BatchOutcome:
    """What one batch came to: rows written (with their statuses), files to retry, files gone, and so on."""

    statuses: list[Status] = field(default_factory=list)  # one per row written, in order
    retries: list[Candidate] = field(default_factory=list)  # failed to decode while perhaps still growing
    vanished: int = 0
    skipped: int = 0  # already recorded with the same content
    dispose_failed: int = 0  # rows written, but the file could not be moved or deleted
    unread: int = 0  # left for the next start because a stop came first


class Processor:
    """Turns batches of stable files into durable rows, then applies --after."""

    def __init__(
        self,
        *,
        classifier: Classifier,
        sink: ResultsFile,
        ledger: dict[str, set[str]],
        disposer: Disposer,
        settle: float,
    ) -> None:
        self.classifier = classifier
        self.sink = sink
        self.ledger = ledger
        self.disposer = disposer
        self.retry_window = max(MIN_RETRY_WINDOW, 4 * settle)
        self._kept: dict[str, Signature] = {}  # files recorded and kept, so rescans need not reread them

    def is_known(self, name: str, stat: os.stat_result) -> bool:
        """True when this exact file (same size, times, inode) was already recorded and kept."""
        return self._kept.get(name) == signature_of(stat)

    def forget_missing(self, present: set[str]) -> None:
        """Drop memory of kept files that have left the inbox, so memory stays flat."""
        for name in set(self._kept) - present:
            del self._kept[name]

    def process(self, batch: list[Job], stop: StopFlag, pool: PreparePool | None = None) -> BatchOutcome:
        """Read the batch (stopping early if asked), classify it in one go, record, dispose; say what happened.

        Raises ResultsError when the rows cannot be written: then nothing of this batch was moved or deleted.
        """
        outcome = BatchOutcome()
        jobs = []
        prepared_files = _prepare([job.candidate.path for job in batch], pool)
        for index, (job, prepared) in enumerate(zip(batch, prepared_files, strict=False)):
            if stop.is_set():  # stop taking new files; the unread ones are found again on the next start
                outcome.unread = len(batch) - index
                break
            job.prepared = prepared
            if self._needs_row(job, outcome):
                jobs.append(job)
        if jobs:
            predictions = self._classify([job.prepared for job in jobs])
            # Rows first, durably; a ResultsError here stops the service before anything is moved.
            self.sink.append(
                [
                    ResultRow(filename=str(job.name), prediction=p, sha256=job.prepared.sha256)
                    for job, p in zip(jobs, predictions, strict=True)
                ]
            )
            for job, prediction in zip(jobs, predictions, strict=True):
                outcome.statuses.append(Status(prediction.status))
                self._after_row(job, prediction, outcome)
        release_free_memory()  # decoded pages go back to the system, so memory stays flat
        return outcome

    def _needs_row(self, job: Job, outcome: BatchOutcome) -> bool:
        """False when a prepared file needs no row now (vanished, retried or already recorded)."""
        name = str(job.name)
        error = job.prepared.error
        if error is not None and not os.path.lexists(job.candidate.path):
            decision(log, logging.INFO, "vanished", name, "%s vanished before it could be read; no row")
            outcome.vanished += 1
            return False
        if error is not None and error.kind == Status.ERROR and self._may_grow(job):
            decision(log, logging.INFO, "retrying", name, "retrying %s: %s, and it may still be growing", error.reason)
            outcome.retries.append(job.candidate)
            return False
        if job.prepared.sha256 in self.ledger.get(name, ()):
            decision(log, logging.INFO, "skipped", name, "skipped %s: already recorded with the same content")
            outcome.skipped += 1
            self._dispose(job, failed=error is not None, outcome=outcome)
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
                predictions.append(Prediction(status=Status.ERROR, detail=f"classification failed: {exc}"))
        return predictions

    def _after_row(self, job: Job, prediction: Prediction, outcome: BatchOutcome) -> None:
        """Log the outcome, remember it in the ledger, then keep, move or delete the file."""
        name = str(job.name)
        self.ledger.setdefault(name, set()).add(job.prepared.sha256)
        failed = prediction.status == Status.ERROR
        if failed:
            decision(log, logging.WARNING, "failed", name, "failed %s: %s", prediction.detail)
        else:
            decision(
                log,
                logging.INFO,
                "classified",
                name,
                "classified %s: %s digit=%s confidence=%s",
                prediction.status,
                prediction.digit,
                "" if prediction.confidence is None else f"{prediction.confidence:.4f}",
            )
        self._dispose(job, failed=failed, outcome=outcome)

    def _dispose(self, job: Job, *, failed: bool, outcome: BatchOutcome) -> None:
        """Apply --after; a kept file is remembered by its signature so rescans skip it cheaply."""
        name = str(job.name)
        if not self.disposer.dispose(job.candidate.path, job.name, failed=failed):
            self._kept.pop(name, None)  # not disposed: let the next rescan offer it again
            outcome.dispose_failed += 1
        elif self.disposer.after == After.KEEP and job.candidate.stat is not None:
            self._kept[name] = signature_of(job.candidate.stat)


def _prepare(paths: Sequence[Path], pool: PreparePool | None) -> Iterator[Prepared]:
    """Read and normalise the files, in order: in the decode workers when the batch is large."""
    if pool is None or len(paths) < PARALLEL_FROM:
        return (prepare_safely(path) for path in paths)
    return pool.prepare(paths)
