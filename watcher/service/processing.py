"""Read, classify and record a micro-batch of stable files: exactly one row per file (and page) and content.

Each file is read once (`prepare_file` hashes it and normalises each page),
pages already in the ledger with the same content are skipped, the rest are
classified together in one call, their rows appended durably, and only
then, once every page of a file has its row, is the file moved or deleted. Every file is handled inside its own
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

from watcher.model.classifier import Classifier
from watcher.ops.logs import decision
from watcher.pipeline.core import Page, rows_for
from watcher.protocol import After, Decision, Status
from watcher.reading.imaging import Prepared
from watcher.reading.loading import ImageError
from watcher.reading.pool import PreparePool, StopFlag, is_document, prepare_safely, release_free_memory
from watcher.results.schema import ResultRow
from watcher.results.store import Ledger, ResultStore
from watcher.service.disposal import Disposer
from watcher.service.stability import Candidate, Signature, signature_of
from watcher.settings import DEFAULT_MAX_PAGES

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # decode failures tolerated while a file may still be growing
MIN_RETRY_WINDOW = 3.0  # seconds: a file changed more recently than this may still be growing
PARALLEL_FROM = 8  # files in a batch: fewer are read in this thread, quicker than handing them to workers


@dataclass
class Job:
    """A stable file being processed: where it is, its name in the CSV, and what reading it gave (a row per page)."""

    candidate: Candidate
    name: PurePosixPath
    rows: list[Prepared] = field(default_factory=list)

    @property
    def error(self) -> ImageError | None:
        """Why the file as a whole could not be read (a single row with no page), else None."""
        if len(self.rows) == 1 and self.rows[0].page is None:
            return self.rows[0].error
        return None

    @property
    def sha256(self) -> str:
        """The file's content hash ("" when its bytes could not be read)."""
        return self.rows[0].sha256 if self.rows else ""


@dataclass
class BatchOutcome:
    """What one batch came to: rows written (with their statuses), files to retry, files gone, and so on."""

    statuses: list[Status] = field(default_factory=list)  # one per row written, in order
    retries: list[Candidate] = field(default_factory=list)  # failed to decode while perhaps still growing
    skipped: int = 0  # already recorded with the same content
    dispose_failed: int = 0  # rows written, but the file could not be moved or deleted


class Processor:
    """Turns batches of stable files into durable rows, then applies --after."""

    def __init__(
        self,
        *,
        classifier: Classifier,
        sink: ResultStore,
        ledger: Ledger,
        disposer: Disposer,
        settle: float,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self.classifier = classifier
        self.sink = sink
        self.ledger = ledger
        self.disposer = disposer
        self.retry_window = max(MIN_RETRY_WINDOW, 4 * settle)
        self.max_pages = max_pages
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
        work: list[tuple[Job, list[Prepared]]] = []  # each file with its pages that still need a row
        prepared_files = self._prepare([job.candidate.path for job in batch], pool, stop)
        for job, pages in zip(batch, prepared_files, strict=False):
            if stop.is_set():
                break  # the rest is left for the next start, which finds it again
            job.rows = pages
            if self._may_need_rows(job, outcome):
                missing = self._unrecorded(job, outcome)
                if missing:
                    work.append((job, missing))
        if work:
            to_classify = [Page(str(job.name), page) for job, missing in work for page in missing]
            rows = iter(rows_for(self.classifier, to_classify))
            done = [(job, [next(rows) for _ in missing]) for job, missing in work]
            # Rows first, durably; a ResultsError here stops the service before anything is moved.
            self.sink.append([row for _, job_rows in done for row in job_rows])
            for job, job_rows in done:
                for row in job_rows:
                    outcome.statuses.append(row.status)
                    self._record(row)
                self._dispose(job, failed=any(row.status == Status.ERROR for row in job_rows), outcome=outcome)
        if outcome.skipped:
            log.info(
                "skipped %d file%s already recorded with the same content",
                outcome.skipped,
                "" if outcome.skipped == 1 else "s",
                extra={"decision": Decision.SKIPPED},
            )
        release_free_memory()  # decoded pages go back to the system, so memory stays flat
        return outcome

    def _prepare(self, paths: Sequence[Path], pool: PreparePool | None, stop: StopFlag) -> Iterator[list[Prepared]]:
        """Read and normalise the files, in order: in the decode workers when the batch is large or holds
        a document (PDF, TIFF, HEIC: their readers are large C libraries, so they are read under a time
        limit, in a process that can be stopped); a few images are read here, sooner than a hand-over."""
        # The batch size first: is_document reads each file's first bytes, needless for a large batch.
        if pool is not None and (
            (pool.workers > 1 and len(paths) >= PARALLEL_FROM) or any(is_document(path) for path in paths)
        ):
            return pool.prepare(paths, stop)
        return (prepare_safely(path, max_pages=self.max_pages) for path in paths)

    def _may_need_rows(self, job: Job, outcome: BatchOutcome) -> bool:
        """False when a file that failed to read needs no row now: it vanished, or may still be growing."""
        name = str(job.name)
        error = job.error
        if error is not None and not os.path.lexists(job.candidate.path):
            decision(log, logging.INFO, Decision.VANISHED, name, "%s vanished before it could be read; no row")
            return False
        if error is not None and error.kind == Status.ERROR and error.retry and self._may_grow(job):
            decision(
                log, logging.INFO, Decision.RETRYING, name, "retrying %s: %s, and it may still be growing", error.reason
            )
            outcome.retries.append(job.candidate)
            return False
        return True

    def _unrecorded(self, job: Job, outcome: BatchOutcome) -> list[Prepared]:
        """The file's rows not yet in the ledger; when none are left, the file is skipped and disposed of.

        Pages recorded before a crash cut the rest are not recorded twice.
        """
        name = str(job.name)
        missing = [row for row in job.rows if not self.ledger.has(name, row.sha256, row.page)]
        if not missing:
            # At DEBUG: a restart with --after keep finds every file again; the batch logs one line for all.
            decision(log, logging.DEBUG, Decision.SKIPPED, name, "skipped %s: already recorded with the same content")
            outcome.skipped += 1
            self._dispose(job, failed=any(row.error is not None for row in job.rows), outcome=outcome)
        return missing

    def _may_grow(self, job: Job) -> bool:
        """A file that failed to decode may be unfinished if it changed within the retry window, unless its
        writer closed it or it was moved in whole: then waiting cannot change what it holds."""
        if job.candidate.attempts >= MAX_ATTEMPTS or job.candidate.complete:
            return False
        try:
            stat = os.stat(job.candidate.path)
        except OSError:
            return False
        return time.time() - max(stat.st_mtime, stat.st_ctime) < self.retry_window

    def _record(self, row: ResultRow) -> None:
        """Log a row's outcome and remember it in the ledger."""
        self.ledger.add(row.filename, row.sha256, row.page)
        if row.status == Status.ERROR:
            decision(log, logging.WARNING, Decision.FAILED, row.filename, "failed %s: %s", row.detail, page=row.page)
        else:
            decision(
                log,
                logging.INFO,
                Decision.CLASSIFIED,
                row.filename,
                "classified %s: %s digit=%s confidence=%s",
                row.status,
                row.digit,
                "" if row.confidence is None else f"{row.confidence:.4f}",
                page=row.page,
            )

    def _dispose(self, job: Job, *, failed: bool, outcome: BatchOutcome) -> None:
        """Apply --after; a kept file is remembered by its signature so rescans skip it cheaply."""
        name = str(job.name)
        if not self.disposer.dispose(job.candidate.path, job.name, failed=failed):
            self._kept.pop(name, None)  # not disposed: let the next rescan offer it again
            outcome.dispose_failed += 1
        elif self.disposer.after == After.KEEP and job.candidate.stat is not None:
            self._kept[name] = signature_of(job.candidate.stat)
