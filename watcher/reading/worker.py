"""What runs in each decode worker process: read files one after another, each step under a time limit.

A watchdog thread ends the worker when one step of a file (opening it, or one
page) runs past the limit, after naming the file to the main process through
a queue; a second thread ends it when the main process is gone. See
`watcher.reading.pool` for the main process's side.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from watcher.reading.imaging import Prepared, prepare_file
from watcher.reading.loading import ImageError
from watcher.settings import DEFAULT_MAX_PAGES

log = logging.getLogger(__name__)

try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
except OSError:  # musl and other C libraries have no malloc_trim
    _LIBC = None

READ_TIMEOUT_EXIT = 75  # exit status of a worker its watchdog stopped (EX_TEMPFAIL), for anyone looking

Rows = list[Prepared]  # one file's rows: one per page, or a single row


@dataclass(frozen=True)
class WorkerReady:
    """A worker's report: it has started (the pool tells a worker that died at start from one that died later)."""

    pid: int


@dataclass(frozen=True)
class StepTooSlow:
    """A worker's report, its last: reading `path` ran past the time limit at `step` (0 opening it, n page n)."""

    path: str
    step: int


Report = WorkerReady | StepTooSlow  # what a worker tells the main process, through the pool's queue


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc; a no-op elsewhere).

    glibc raises its mmap threshold once a large block is freed, so the arrays of
    later images come from the heap, which then holds on to every page it ever
    used: without this, a service's memory grows with every burst. Trimming after
    every few dozen files keeps it flat for next to nothing, where a fixed mmap
    threshold would slow decoding (figures in docs/benchmarks.md, Speed).
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def prepare_safely(path: Path, *, max_pages: int = DEFAULT_MAX_PAGES, tick: Callable[[], None] | None = None) -> Rows:
    """`prepare_file`, with any unexpected exception turned into that file's error row."""
    try:
        return prepare_file(path, max_pages=max_pages, tick=tick)
    except Exception as exc:  # imaging promises not to raise; a bug must cost one row, never a batch
        log.exception("unexpected error reading %s", path)
        return [Prepared(sha256="", error=ImageError(f"internal error: {exc.__class__.__name__}: {exc}"))]


PARENT_POLL = 0.5  # seconds between checks that the main process lives, where pidfd_open is missing
# In a worker: the file being read, its step (0 opening, n page n) and when that step began
# (time.monotonic()); None between files. Replaced whole, so the watchdog reads it in one go.
_step: tuple[str, int, float] | None = None


def start_worker(main_pid: int, read_timeout: float, reports: SimpleQueue[Report]) -> None:
    """Ignore Ctrl-C (the main process decides when its workers stop), die with the main process,
    stop any step that runs past `read_timeout` seconds, and tell the main process this worker is up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_gone, args=(main_pid,), name="watch-main-process", daemon=True).start()
    watchdog = threading.Thread(target=_stop_slow_steps, args=(read_timeout, reports), name="read-timeout")
    watchdog.daemon = True
    watchdog.start()
    reports.put(WorkerReady(os.getpid()))


def prepare_watched(paths: Sequence[Path], max_pages: int) -> list[Rows]:
    """What a worker runs on a task: each file prepared in turn, each step of it timed by the watchdog,
    then the freed memory given back."""
    global _step
    prepared = []
    for path in paths:
        prepared.append(prepare_safely(path, max_pages=max_pages, tick=_ticker(str(path))))
        _step = None
    release_free_memory()
    return prepared


def _ticker(path: str) -> Callable[[], None]:
    """The `tick` for one file: each call starts its next step (opening it, then each page)."""
    steps = itertools.count()

    def tick() -> None:
        global _step
        _step = (path, next(steps), time.monotonic())

    return tick


def _stop_slow_steps(limit: float, reports: SimpleQueue[Report]) -> None:
    """End this worker once a step has run for `limit` seconds, after naming its file to the main process.

    The step may be stuck in C code (PDFium), which no Python exception can
    interrupt; ending the process can. The report is written before the exit,
    so it is in the pipe when the main process learns that the worker died.
    """
    while True:
        step = _step
        if step is None:
            time.sleep(limit)  # a step that starts meanwhile is checked at its deadline, not later
            continue
        left = step[2] + limit - time.monotonic()
        if left > 0:
            time.sleep(left)
            continue
        reports.put(StepTooSlow(step[0], step[1]))
        os._exit(READ_TIMEOUT_EXIT)


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
