"""Read and normalise image files on every core: worker processes, results in the order given.

Decoding and normalising an image costs milliseconds of pure Python and numpy,
so one process keeps one core busy; the model needs a fraction of a core for
the same images (see docs/benchmarks.md, Speed). Workers are forked
from a fresh "forkserver" process, never from this one: forking a process in
which TensorFlow (a bring-your-own Keras model) has started threads is unsafe.

Workers also keep hostile files away from this process. Documents (PDF,
TIFF, HEIC) are read by large C libraries that Python cannot interrupt, so
each step of a file (opening it, each page) runs under a time limit that a
watchdog thread in the worker enforces by ending its own process, after
telling this one which file it was reading. A worker that dies without a
word (PDFium crashed, the OOM killer) costs a re-read of the files it may
have been reading, one per task, until the file that kills it is found.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import stat
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import Protocol

from watcher.cores import available_cores
from watcher.reading import formats
from watcher.reading.imaging import Prepared
from watcher.reading.loading import ImageError, read_image_bytes
from watcher.reading.worker import (
    Report,
    Rows,
    StepTooSlow,
    WorkerReady,
    prepare_safely,
    prepare_watched,
    release_free_memory,
    start_worker,
)
from watcher.settings import DEFAULT_MAX_PAGES, DEFAULT_READ_TIMEOUT

log = logging.getLogger(__name__)

MIN_PARALLEL = 200  # files: fewer are prepared in this process; starting workers costs ~0.5 s of CPU
TASK_FILES = 32  # files per task sent to a worker: amortises the hand-over, keeps the cores evenly loaded
TASKS_AHEAD = 4  # tasks queued per worker: enough to never idle, few enough to bound memory
# numpy's OpenBLAS spreads even small matrix products over all cores; in workers that
# already fill every core this only adds hand-offs (measured slower: see docs/benchmarks.md).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

__all__ = ["PreparePool", "is_document", "prepare_safely", "prepared_in_order", "release_free_memory"]


def is_document(path: Path) -> bool:
    """True for a file that a large C library reads (PDF, TIFF, HEIC), by its name or by its first bytes.

    Such files are read only in a worker, under the time limit. The readers go
    by the bytes, not the name (a PDF named .png is still rendered by PDFium),
    so the first kilobyte is looked at too: one small read, done here. Which
    formats are documents is declared in `watcher.reading.formats`.
    """
    return formats.is_document_name(path.suffix) or formats.is_document_data(_first_bytes(path))


def _first_bytes(path: Path) -> bytes:
    """The file's first bytes, enough to tell its format; nothing for what cannot be read or is not a
    regular file (a pipe would block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return b""
    try:
        return os.read(fd, formats.SNIFF_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


STOP_CHECK = 0.1  # seconds: how often a wait for workers looks whether a stop was asked for


class StopFlag(Protocol):
    """Anything that says whether a stop was asked for (a threading.Event, the service's StopRequest)."""

    def is_set(self) -> bool: ...


class Level(IntEnum):
    """How a waiting file is handed out: see `_Batch`."""

    GROUPED = 0  # in tasks of TASK_FILES
    ALONE = 1  # one file per task, a task per worker
    SUSPECT = 2  # one file at a time, with nothing else in flight

    def up(self) -> Level | None:
        """The level a file goes up to when a worker died as it was read at this one; None above SUSPECT."""
        return Level(self + 1) if self < Level.SUSPECT else None


@dataclass
class _Batch:
    """The files of one `prepare` call: their rows once read, and how each waiting one is to be read.

    Files go out in tasks of TASK_FILES (GROUPED). When a worker dies without
    naming a file, the unfinished files of every task in flight move up one
    level: GROUPED ones are read ALONE (one per task, a task per worker), ALONE
    ones become SUSPECTs, read one at a time with nothing else in flight, so a
    suspect whose worker dies is the file that killed it. Each death moves
    files up or settles one, so the retries end.
    """

    paths: list[Path]
    rows: list[Rows | None] = field(init=False)
    waiting: list[deque[int]] = field(init=False)  # file indices by level, in order
    in_flight: dict[Future[list[Rows]], tuple[Level, list[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = [None] * len(self.paths)
        self.waiting = [deque(range(len(self.paths))) if level == Level.GROUPED else deque() for level in Level]

    def next_task(self, workers: int) -> tuple[Level, list[int]] | None:
        """The next task that may be handed out now, as (level, file indices), or None."""
        level = next((level for level in reversed(Level) if self.waiting[level]), None)
        if level is None or any(busy == Level.SUSPECT for busy, _ in self.in_flight.values()):
            return None
        most = {Level.SUSPECT: 1, Level.ALONE: workers, Level.GROUPED: TASKS_AHEAD * workers}[level]
        if len(self.in_flight) >= most:
            return None
        queue = self.waiting[level]
        return level, [queue.popleft() for _ in range(min(len(queue), TASK_FILES if level == Level.GROUPED else 1))]

    def put_back(self, level: Level, indices: list[int]) -> None:
        """Make files wait again at `level` (in order with those already there)."""
        self.waiting[level] = deque(sorted([*self.waiting[level], *indices]))

    def take_first_waiting(self) -> tuple[Level, int]:
        """The waiting file that comes first, as (level, index), no longer waiting."""
        level = min((self.waiting[level][0], level) for level in Level if self.waiting[level])[1]
        return level, self.waiting[level].popleft()


@dataclass
class _Reports:
    """What the workers of one pool said before it broke."""

    started: bool = False  # at least one worker finished starting
    slow: dict[str, int] = field(default_factory=dict)  # path: the step that ran past the limit


class PreparePool:
    """Worker processes that prepare files; use as a context manager, or call close().

    Workers start with the first task, not before; a long-running caller (the
    service) can stop them once idle with `stop_if_idle`, and the next task
    starts them again, so memory at light load is the main process's alone.
    Each step of a file (opening it, each page) may take `read_timeout` seconds.
    """

    def __init__(
        self, workers: int, *, max_pages: int = DEFAULT_MAX_PAGES, read_timeout: float = DEFAULT_READ_TIMEOUT
    ) -> None:
        if not read_timeout > 0:
            raise ValueError(f"read_timeout must be a positive number of seconds, not {read_timeout}")
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)  # read by numpy as each worker imports it
        self._context = multiprocessing.get_context("forkserver")
        # Imported once in the server, so each forked worker starts with them in memory.
        self._context.set_forkserver_preload(["__main__", "watcher.reading.worker", "watcher.reading.ink"])
        self.workers = max(1, workers)
        self.max_pages = max_pages
        self.read_timeout = read_timeout
        self.broken = False  # the workers could not start: images are read here, documents not at all
        self._executor: ProcessPoolExecutor | None = None
        self._reports: SimpleQueue[Report] | None = None  # one per executor: a killed worker may leave it locked
        self._last_used = time.monotonic()

    def __enter__(self) -> PreparePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled)."""
        self._stop_executor()
        self.broken = False  # the next task starts fresh workers

    def stop_if_idle(self, idle_seconds: float) -> None:
        """Stop the workers when no task was handed out for `idle_seconds`; they restart on demand."""
        if self._executor is not None and time.monotonic() - self._last_used > idle_seconds:
            log.info("stopping %d idle decode workers", self.workers)
            self.close()

    def prepare(self, paths: Sequence[Path], stop: StopFlag | None = None) -> Iterator[Rows]:
        """Each file's rows, in the order of `paths`; the first tasks are handed out now, not at first use.

        Once `stop` is set the rows end early, within STOP_CHECK seconds, and
        the workers are stopped at once: a stop never waits for a slow page.

        A file whose reading runs past the time limit, or that makes its worker
        die, gets one error row (with its SHA-256, computed here) and the other
        files are read again in fresh workers. Only if the workers cannot start
        at all are images read in this process; documents then get an error row.
        """
        batch = _Batch(list(paths))
        self._hand_out(batch)
        return self._in_order(batch, stop)

    def _in_order(self, batch: _Batch, stop: StopFlag | None) -> Iterator[Rows]:
        for index in range(len(batch.paths)):
            while (rows := batch.rows[index]) is None:
                if stop is not None and stop.is_set():
                    self.close()  # the files in flight are read again on the next start
                    return
                self._advance(batch, timeout=None if stop is None else STOP_CHECK)
            batch.rows[index] = None  # the caller holds them now; memory stays bounded
            yield rows

    def _advance(self, batch: _Batch, timeout: float | None) -> None:
        """Hand out what may go out, then take in finished tasks (waiting at most `timeout` seconds for one),
        or read one file here."""
        self._hand_out(batch)
        if batch.in_flight:
            done, _ = wait(batch.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            if any(isinstance(future.exception(), BrokenProcessPool) for future in done):
                self._recover(batch)
                return
            for future in done:
                _, task = batch.in_flight.pop(future)
                self._store(batch, task, future)
        elif self.broken:
            self._read_here(batch)
        # else: the pool broke as a task went out; the next call hands out to fresh workers

    def _hand_out(self, batch: _Batch) -> None:
        while not self.broken and (task := batch.next_task(self.workers)) is not None:
            level, indices = task
            try:
                future = self._submit([batch.paths[index] for index in indices])
            except BrokenProcessPool:  # a worker died while idle
                batch.put_back(level, indices)
                self._recover(batch)
                return
            except OSError as exc:  # no process, pipe or semaphore to be had
                batch.put_back(level, indices)
                self._give_up(f"decode workers cannot start ({exc})")
                return
            batch.in_flight[future] = task

    def _submit(self, task: Sequence[Path]) -> Future[list[Rows]]:
        self._last_used = time.monotonic()
        if self._executor is None:
            self._reports = self._context.SimpleQueue()
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._context,
                initializer=start_worker,
                initargs=(os.getpid(), self.read_timeout, self._reports),
            )
        return self._executor.submit(prepare_watched, task, self.max_pages)

    def _store(self, batch: _Batch, task: list[int], future: Future[list[Rows]]) -> None:
        """Keep a finished task's rows; a task that failed in the hand-over costs its files an error row each."""
        self._last_used = time.monotonic()
        try:
            results = future.result()
        except Exception as exc:  # workers catch every file's errors: this is a bug, worth one row per file
            log.exception("decode task failed")
            results = [[Prepared(sha256="", error=ImageError(f"internal error: {exc!r}"))] for _ in task]
        for index, rows in zip(task, results, strict=True):
            batch.rows[index] = rows

    def _recover(self, batch: _Batch) -> None:
        """After a worker died: keep what finished, settle the files it named, and send the rest out again."""
        reports = self._stop_executor()
        unfinished: list[tuple[Level, list[int]]] = []
        for future, (level, task) in batch.in_flight.items():
            if future.done() and not future.cancelled() and not isinstance(future.exception(), BrokenProcessPool):
                self._store(batch, task, future)
            else:
                unfinished.append((level, task))
        batch.in_flight.clear()
        if not reports.started:
            for level, task in unfinished:
                batch.put_back(level, task)
            self._give_up("decode workers could not start")
            return
        named = any([self._settle_slow(batch, task, reports.slow) for _, task in unfinished])  # all settled
        if not named:
            log.warning(
                "a decode worker died unannounced; the %d files it may have been reading go out again, fewer at once",
                sum(len(task) for _, task in unfinished),
            )
        for level, task in unfinished:
            # Files in flight beside a named one were not to blame: as before. Otherwise one level up.
            self._retry(batch, level if named else level.up(), [i for i in task if batch.rows[i] is None])

    def _settle_slow(self, batch: _Batch, task: list[int], slow: dict[str, int]) -> bool:
        """Give each file of `task` that a watchdog named its error row; True when there was one."""
        named = False
        for index in task:
            step = slow.get(str(batch.paths[index]))
            if step is not None:
                where = "while opening it" if step == 0 else f"on page {step}"
                reason = f"reading took longer than {self.read_timeout:g} s (--read-timeout) {where}; reader stopped"
                batch.rows[index] = _error_rows(batch.paths[index], reason)
                log.warning("%s: %s", batch.paths[index], reason)
                named = True
        return named

    def _retry(self, batch: _Batch, level: Level | None, indices: list[int]) -> None:
        if level is not None:
            batch.put_back(level, indices)
            return
        for index in indices:  # it was the only file in flight, read alone, and its worker died again
            reason = "the reader crashed on this file: its worker process died each time it read it, also alone"
            batch.rows[index] = _error_rows(batch.paths[index], reason)
            log.warning("%s: %s", batch.paths[index], reason)

    def _read_here(self, batch: _Batch) -> None:
        """Without workers: read the first waiting image here; a document, or a file that was being read
        when a worker died, gets an error row instead (their readers may crash or hang this process)."""
        level, index = batch.take_first_waiting()
        path = batch.paths[index]
        if level == Level.GROUPED and not is_document(path):
            batch.rows[index] = prepare_safely(path, max_pages=self.max_pages)
            return
        why = "documents are" if level == Level.GROUPED else "a file being read when a worker died is"
        batch.rows[index] = _error_rows(path, f"not read: decode workers cannot start, and {why} read only in one")

    def _give_up(self, why: str) -> None:
        if not self.broken:
            log.warning("%s; reading images in this process, and no documents, until the workers restart", why)
        self.broken = True

    def _stop_executor(self) -> _Reports:
        """Stop the workers (their futures are all settled once it returns) and collect what they reported."""
        executor, queue = self._executor, self._reports
        self._executor = self._reports = None
        if executor is not None:
            _kill_workers(executor)  # rather than wait for a page that may take up to the time limit
            executor.shutdown(wait=True, cancel_futures=True)
        reports = _Reports()
        if queue is not None:
            while not queue.empty():
                match queue.get():
                    case WorkerReady():
                        reports.started = True
                    case StepTooSlow(path=path, step=step):
                        reports.slow[path] = step
            queue.close()
        return reports


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    """End the executor's workers now; Python 3.14 has a method for it, earlier ones keep them in `_processes`."""
    kill = getattr(executor, "kill_workers", None)
    if kill is not None:
        kill()
        return
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()


def _error_rows(path: Path, reason: str) -> Rows:
    """One error row for a file not read, with the SHA-256 of its bytes, so the ledger knows the file."""
    try:
        sha256 = hashlib.sha256(read_image_bytes(path, allow_empty=True)).hexdigest()
    except ImageError:  # gone or unreadable meanwhile: no hash to give
        sha256 = ""
    return [Prepared(sha256=sha256, error=ImageError(reason, retry=False))]


@contextmanager
def prepared_in_order(
    paths: Sequence[Path],
    *,
    workers: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Iterator[Iterator[Rows]]:
    """Yield an iterator of prepared files (each a list of rows) in order: from worker processes when
    there are enough files and cores (started at once, so they warm up while the caller loads its model),
    else here; documents are always read by workers, under the time limit."""
    workers = available_cores() if workers is None else workers
    if workers > 1 and len(paths) >= MIN_PARALLEL:
        with PreparePool(workers, max_pages=max_pages, read_timeout=read_timeout) as pool:
            yield pool.prepare(paths)
        return
    documents = [is_document(path) for path in paths]
    if not any(documents):
        yield (prepare_safely(path, max_pages=max_pages) for path in paths)
        return
    to_workers = [path for path, document in zip(paths, documents, strict=True) if document]
    with PreparePool(min(workers, len(to_workers)), max_pages=max_pages, read_timeout=read_timeout) as pool:
        yield _merged(paths, documents, pool.prepare(to_workers), max_pages=max_pages)


def _merged(
    paths: Sequence[Path], documents: Sequence[bool], from_workers: Iterator[Rows], *, max_pages: int
) -> Iterator[Rows]:
    """Documents' rows from the workers, images' read here, in the order of `paths`."""
    for path, document in zip(paths, documents, strict=True):
        yield next(from_workers) if document else prepare_safely(path, max_pages=max_pages)
