"""Read and normalise image files on every core: worker processes, results in the order given.

Decoding and normalising an image costs milliseconds of pure Python and numpy,
so one process keeps one core busy; the model needs a fraction of a core for
the same images (see the README's Performance section). Workers are forked
from a fresh "forkserver" process, never from this one: forking a process in
which TensorFlow (a bring-your-own Keras model) has started threads is unsafe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

from watcher.imaging import Prepared, prepare_file

log = logging.getLogger(__name__)

MIN_PARALLEL = 200  # files: fewer are prepared in this process; starting workers costs ~0.5 s of CPU
TASK_FILES = 32  # files per task sent to a worker: amortises the hand-over, keeps the cores evenly loaded
TASKS_AHEAD = 4  # tasks queued per worker: enough to never idle, few enough to bound memory
# numpy's OpenBLAS spreads even small matrix products over all cores; in workers that
# already fill every core this only adds hand-offs (35% slower in measurement).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def prepare_files(paths: Sequence[Path]) -> list[Prepared]:
    """Prepare files one after another (what each worker runs on its task)."""
    return [prepare_file(path) for path in paths]


class PreparePool:
    """Worker processes that prepare files; use as a context manager, or call close()."""

    def __init__(self, workers: int) -> None:
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)  # read by numpy as each worker imports it
        context = multiprocessing.get_context("forkserver")
        # Imported once in the server, so each forked worker starts with them in memory.
        context.set_forkserver_preload(["__main__", "watcher.imaging"])
        self.workers = workers
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def __enter__(self) -> "PreparePool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def prepare(self, paths: Sequence[Path]) -> Iterator[Prepared]:
        """Prepared files in the order of `paths`; the first tasks are handed out now, not at first use."""
        tasks = deque(paths[start : start + TASK_FILES] for start in range(0, len(paths), TASK_FILES))
        pending: deque[tuple[Sequence[Path], Future]] = deque()

        def top_up() -> None:
            while tasks and len(pending) < TASKS_AHEAD * self.workers:
                task = tasks.popleft()
                pending.append((task, self._executor.submit(prepare_files, task)))

        top_up()
        return self._in_order(pending, top_up)

    def _in_order(self, pending: deque, top_up: Callable[[], None]) -> Iterator[Prepared]:
        while pending:
            results = self._result(*pending.popleft())
            top_up()
            yield from results

    @staticmethod
    def _result(task: Sequence[Path], future: Future) -> list[Prepared]:
        """A task's results; if its worker died (a crash in a decoder), prepare it here instead."""
        try:
            return future.result()
        except Exception as exc:
            log.warning("a worker failed on %d files (%s: %s); preparing them in this process",
                        len(task), exc.__class__.__name__, exc)
            return prepare_files(task)


@contextmanager
def prepared_in_order(paths: Sequence[Path], *, workers: int | None = None) -> Iterator[Iterator[Prepared]]:
    """Yield an iterator of prepared files in order: from worker processes when there are enough
    files and cores (started at once, so they warm up while the caller loads its model), else here."""
    workers = available_cores() if workers is None else workers
    if workers <= 1 or len(paths) < MIN_PARALLEL:
        yield (prepare_file(path) for path in paths)
        return
    with PreparePool(workers) as pool:
        yield pool.prepare(paths)
