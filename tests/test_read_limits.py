"""Hostile documents: a page that reads too long, or a file that kills its reader, costs that file one error row.

The slow PDFs are real: a page draws a form that draws a form of 900 strokes,
hundreds of times, which PDFium takes seconds to render (about 20 s here for
SLOW_CALLS), while the file is 10 kB. The time limit must stop it, in a worker.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from document_files import SLOW_CALLS, assert_read_right, drawing_pdf
from watcher.reading.imaging import prepare_file
from watcher.reading.pool import PreparePool, prepared_in_order

LIMIT = 1.0  # seconds: --read-timeout in these tests
GRACE = 2.0  # seconds past the limit an error row may take (the worker ends, the pool restarts)


@pytest.fixture
def slow_pdf(tmp_path) -> Path:
    """A one-page PDF that PDFium renders for about 20 seconds."""
    path = tmp_path / "slow.pdf"
    path.write_bytes(drawing_pdf(1, SLOW_CALLS, nested=True))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_page_that_reads_too_long_gets_an_error_row_and_the_files_around_it_are_read(digit_files, slow_pdf):
    paths = [path for path, _ in digit_files(40)]
    paths.insert(20, slow_pdf)  # in the middle of the first task of 32 files
    with PreparePool(2, read_timeout=LIMIT) as pool:
        list(pool.prepare(paths[:2]))  # the workers are up: what is timed is the limit, not their start
        started = time.monotonic()
        rows = []
        for got in pool.prepare(paths):
            rows.append(got)
            if len(rows) == 21:
                took = time.monotonic() - started
        assert [row.sha256 for row in rows[-1]] == [sha256_of(paths[-1])]  # the pool carried on
    (slow,) = rows[20]
    assert slow.error is not None and "reading took longer than 1 s (--read-timeout) on page 1" in slow.error.reason
    assert slow.sha256 == sha256_of(slow_pdf) and slow.digit is None
    assert LIMIT <= took < LIMIT + GRACE, f"the slow page's row came after {took:.1f} s"
    for path, got in zip(paths, rows, strict=True):
        if path != slow_pdf:
            assert_read_right(got, path)


@pytest.mark.slow  # by design: the document must read for many times the slowest page (4-9 s on two cores)
def test_the_limit_is_per_page_so_a_long_document_of_quick_pages_is_read(tmp_path):
    long = tmp_path / "long.pdf"
    long.write_bytes(drawing_pdf(PAGES, 3))
    # The limit is set from this machine's speed: several times the slowest of a few pages read
    # here, and a fraction of the whole document, so the test means the same on a fast machine.
    # Ten times: a CI run's worker once took over five times the probe's slowest page for one page.
    limit = 10 * slowest_page(drawing_pdf(4, 3))
    quick = tmp_path / "quick.pdf"
    quick.write_bytes(drawing_pdf(1, 1))
    with PreparePool(1, read_timeout=limit) as pool:
        list(pool.prepare([quick]))  # PDFium loaded in the worker: its start is not a page's time
        started = time.monotonic()
        (rows,) = pool.prepare([long])
        took = time.monotonic() - started
    assert [row.page for row in rows] == list(range(1, PAGES + 1))
    assert all(row.error is None or "read-timeout" not in row.error.reason for row in rows)
    assert took > 2 * limit, f"the document read in {took:.2f} s: too fast to show the limit is per page"


PAGES = 60  # pages of the long document: about 6 times the limit in all


def slowest_page(pdf: bytes) -> float:
    """Seconds the slowest page of the PDF takes to read in this process (opening it left out)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.pdf"
        path.write_bytes(pdf)
        prepare_file(path)  # PDFium loaded and warm before timing
        starts: list[float] = []
        prepare_file(path, tick=lambda: starts.append(time.perf_counter()))
        ends = [*starts[2:], time.perf_counter()]
    return max(end - start for start, end in zip(starts[1:], ends, strict=True))


def test_a_document_among_a_few_images_is_read_by_a_worker_under_the_limit(digit_files, slow_pdf):
    images = [path for path, _ in digit_files(2)]
    paths = [images[0], slow_pdf, images[1]]
    started = time.monotonic()
    with prepared_in_order(paths, workers=2, read_timeout=LIMIT) as prepared:
        rows = list(prepared)
    took = time.monotonic() - started
    assert len(rows) == 3
    assert_read_right(rows[0], images[0])
    assert_read_right(rows[2], images[1])
    (slow,) = rows[1]
    assert slow.error is not None and "--read-timeout" in slow.error.reason and slow.sha256 == sha256_of(slow_pdf)
    assert took < LIMIT + GRACE + 3.0, f"took {took:.1f} s"  # + starting the forkserver and a worker


@contextmanager
def killing_pdf_readers(pool: PreparePool) -> Iterator[list[int]]:
    """Kill every worker of the pool that loads PDFium, as a PDF that crashes its reader would; yields the pids.

    A worker loads PDFium when it opens its first PDF, so with one PDF in the
    batch this kills whichever worker is reading it, each time one does.
    """
    killed: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            executor = pool._executor
            for pid in list(executor._processes or {}) if executor is not None else []:
                if pid not in killed and _maps_pdfium(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    killer = threading.Thread(target=watch, name="pdf-reader-killer")
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join()


def _maps_pdfium(pid: int) -> bool:
    try:
        return b"pdfium" in Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:  # gone meanwhile
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see which worker reads a PDF")
def test_a_file_that_kills_its_reader_each_time_is_named_and_the_others_are_read(digit_files, slow_pdf):
    paths = [path for path, _ in digit_files(45)]
    paths.insert(20, slow_pdf)
    with PreparePool(2, read_timeout=60.0) as pool:  # far off: here the worker dies, it is not stopped
        with killing_pdf_readers(pool) as killed:
            rows = list(pool.prepare(paths))
        assert len(killed) >= 2  # once among the others, then alone: named only when it kills a worker alone
        again = [path for path, _ in digit_files(3)]
        assert [r[0].sha256 for r in pool.prepare(again)] == [sha256_of(path) for path in again]  # usable
    (crashed,) = rows[20]
    assert crashed.error is not None and "the reader crashed on this file" in crashed.error.reason
    assert crashed.sha256 == sha256_of(slow_pdf)
    for path, got in zip(paths, rows, strict=True):
        if path != slow_pdf:
            assert_read_right(got, path)


def test_a_worker_killed_once_mid_batch_costs_no_file_a_row_and_the_pool_goes_on(digit_files):
    paths = [path for path, _ in digit_files(300)]
    with PreparePool(2) as pool:
        prepared = pool.prepare(paths)
        rows = [next(prepared)]
        first = pool._executor
        assert first is not None
        os.kill(next(iter(first._processes)), signal.SIGKILL)  # later tasks are queued or being read
        rows += list(prepared)
        assert pool._executor is not first  # the kill broke the pool: a fresh one read the rest
        assert [r[0].sha256 for r in pool.prepare(paths[:40])] == [r[0].sha256 for r in rows[:40]]
    assert len(rows) == len(paths)
    for path, got in zip(paths, rows, strict=True):
        assert_read_right(got, path)


def test_workers_that_cannot_start_leave_images_read_here_and_documents_unread(digit_files, slow_pdf, monkeypatch):
    import multiprocessing.spawn
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # started as it is everywhere, not from the program below
    paths = [path for path, _ in digit_files(5)]
    paths.insert(2, slow_pdf)
    with PreparePool(2, read_timeout=LIMIT) as pool:
        # Workers started from a program that exits at once: none ever reports that it is up.
        pool._context = multiprocessing.get_context("spawn")
        monkeypatch.setattr(multiprocessing.spawn, "_python_exe", os.fsencode("/bin/false"))
        started = time.monotonic()
        rows = list(pool.prepare(paths))
        took = time.monotonic() - started
        assert pool.broken
    (unread,) = rows[2]
    assert unread.error is not None and unread.error.reason.startswith("not read: decode workers cannot start")
    assert unread.sha256 == sha256_of(slow_pdf)
    assert took < 5.0, f"took {took:.1f} s: was the slow PDF read in this process?"
    for path, got in zip(paths, rows, strict=True):
        if path != slow_pdf:
            assert_read_right(got, path)
