"""Read and normalise image files on every core: worker processes, results in the order given.

Decoding and normalising an image costs milliseconds of pure Python and numpy,
so one process keeps one core busy; the model needs a fraction of a core for
the same images (see the README's Performance section). Workers are forked
from a fresh "forkserver" process, never from this one: forking a process in
which TensorFlow (a bring-your-own Keras model) has started threads is unsafe.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

from watcher.cores import available_cores
from watcher.imaging import Prepared, prepare_file
from watcher.loading import ImageError
from watcher.settings import DEFAULT_MAX_PAGES, DEFAULT_READ_TIMEOUT

log = logging.getLogger(__name__)

try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
except OSError:  # musl and other C libraries have no malloc_trim
    _LIBC = None

MIN_PARALLEL = 200  # files: fewer are prepared in this process; starting workers costs ~0.5 s of CPU
TASK_FILES = 32  # files per task sent to a worker: amortises the hand-over, keeps the cores evenly loaded
TASKS_AHEAD = 4  # tasks queued per worker: enough to never idle, few enough to bound memory
# numpy's OpenBLAS spreads even small matrix products over all cores; in workers that
# already fill every core this only adds hand-offs (measured slower: see the README).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def prepare_files(paths: Sequence[Path], max_pages: int = DEFAULT_MAX_PAGES) -> list[list[Prepared]]:
    """Prepare files one after another (what each worker runs on its task), then give back freed memory."""
    prepared = [prepare_safely(path, max_pages=max_pages) for path in paths]
    release_free_memory()
    return prepared


DOCUMENT_SUFFIXES = (".pdf", ".tif", ".tiff", ".heic", ".heif")


def is_document(path: Path) -> bool:
    """True for a PDF, TIFF or HEIC name: files read by large C libraries, so always read in a worker."""
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc; a no-op elsewhere).

    glibc raises its mmap threshold once a large block is freed, so the arrays of
    later images come from the heap, which then holds on to every page it ever
    used: without this, a service's memory grows with every burst. Trimming after
    every few dozen files keeps it flat for next to nothing, where a fixed mmap
    threshold would slow decoding (figures in the README's Speed section).
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def prepare_safely(path: Path, *, max_pages: int = DEFAULT_MAX_PAGES) -> list[Prepared]:
    """`prepare_file`, with any unexpected exception turned into that file's error row."""
    try:
        return prepare_file(path, max_pages=max_pages)
    except Exception as exc:  # imaging promises not to raise; a bug must cost one row, never a batch
        log.exception("unexpected error reading %s", path)
        return [Prepared(sha256="", error=ImageError(f"internal error: {exc.__class__.__name__}: {exc}"))]


PARENT_POLL = 0.5  # seconds between checks that the main process lives, where pidfd_open is missing


def _start_worker(main_pid: int) -> None:
    """Ignore Ctrl-C (the main process decides when its workers stop) and die with the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_gone, args=(main_pid,), name="watch-main-process", daemon=True).start()


def _exit_when_gone(main_pid: int) -> None:
    """Exit this worker as soon as the main process is gone, however it died (kill -9, OOM killer).

    A worker's parent is the forkserver, not the main process, so a
    parent-death signal would not fire; and each worker holds the pipes that
    keep the forkserver and the resource tracker alive, so once the workers
    are gone those two exit by themselves. A pidfd cannot be fooled by pid reuse.
    """
    try:
        pidfd = os.pidfd_open(main_pid)
    except (AttributeError, OSError):  # not Linux 5.3+: poll instead
        while _alive(main_pid):
            time.sleep(PARENT_POLL)
    else:
        select.select([pidfd], [], [])  # readable once the process has exited
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else: our pid was reused, so ours is gone
        return False
    return True


class PreparePool:
    """Worker processes that prepare files; use as a context manager, or call close().

    Workers start with the first task, not before; a long-running caller (the
    service) can stop them once idle with `stop_if_idle`, and the next task
    starts them again, so memory at light load is the main process's alone.
    """

    def __init__(
        self, workers: int, *, max_pages: int = DEFAULT_MAX_PAGES, read_timeout: float = DEFAULT_READ_TIMEOUT
    ) -> None:
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)  # read by numpy as each worker imports it
        self._context = multiprocessing.get_context("forkserver")
        # Imported once in the server, so each forked worker starts with them in memory.
        self._context.set_forkserver_preload(["__main__", "watcher.imaging", "watcher.ink"])
        self.workers = workers
        self.max_pages = max_pages
        self.read_timeout = read_timeout
        self.broken = False
        self._executor: ProcessPoolExecutor | None = None
        self._last_used = time.monotonic()

    def __enter__(self) -> PreparePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.broken = False  # the next task starts fresh workers

    def stop_if_idle(self, idle_seconds: float) -> None:
        """Stop the workers when no task was handed out for `idle_seconds`; they restart on demand."""
        if self._executor is not None and time.monotonic() - self._last_used > idle_seconds:
            log.info("stopping %d idle decode workers", self.workers)
            self.close()

    def prepare(self, paths: Sequence[Path]) -> Iterator[list[Prepared]]:
        """Prepared files in the order of `paths`; the first tasks are handed out now, not at first use.

        If the pool breaks (a worker crashed, or could not start), the files
        not yet prepared are prepared in this process instead: slower, same rows.
        """
        tasks = deque(paths[start : start + TASK_FILES] for start in range(0, len(paths), TASK_FILES))
        pending: deque[tuple[Sequence[Path], Future[list[list[Prepared]]] | None]] = deque()

        def top_up() -> None:
            while tasks and len(pending) < TASKS_AHEAD * self.workers:
                task = tasks.popleft()
                pending.append((task, None if self.broken else self._submit(task)))

        top_up()
        return self._in_order(pending, top_up)

    def _submit(self, task: Sequence[Path]) -> Future[list[list[Prepared]]] | None:
        self._last_used = time.monotonic()
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=self._context, initializer=_start_worker, initargs=(os.getpid(),)
            )
        try:
            return self._executor.submit(prepare_files, task, self.max_pages)
        except BrokenProcessPool as exc:
            self._break(exc)
            return None

    def _in_order(
        self, pending: deque[tuple[Sequence[Path], Future[list[list[Prepared]]] | None]], top_up: Callable[[], None]
    ) -> Iterator[list[Prepared]]:
        while pending:
            task, future = pending.popleft()
            results = self._result(task, future)
            top_up()
            yield from results

    def _result(self, task: Sequence[Path], future: Future[list[list[Prepared]]] | None) -> list[list[Prepared]]:
        """A task's results, from its worker or, when the pool is broken, prepared here."""
        if future is not None:
            try:
                results = future.result()
                self._last_used = time.monotonic()
                return results
            except BrokenProcessPool as exc:
                self._break(exc)
        return prepare_files(task, self.max_pages)

    def _break(self, exc: BaseException) -> None:
        if not self.broken:
            log.warning("decode workers failed (%s); preparing the remaining files in this process", exc)
        self.broken = True


@contextmanager
def prepared_in_order(
    paths: Sequence[Path],
    *,
    workers: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Iterator[Iterator[list[Prepared]]]:
    """Yield an iterator of prepared files (each a list of rows) in order: from worker processes when
    there are enough files and cores (started at once, so they warm up while the caller loads its model), else here."""
    workers = available_cores() if workers is None else workers
    if workers <= 1 or len(paths) < MIN_PARALLEL:
        yield (prepare_safely(path, max_pages=max_pages) for path in paths)
        return
    with PreparePool(workers, max_pages=max_pages, read_timeout=read_timeout) as pool:
        yield pool.prepare(paths)
