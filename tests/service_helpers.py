"""Helpers for the watch-service tests: digit PNG bytes, hostile files, a service subprocess, polling."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from watcher.results.schema import COLUMNS

READY_TIMEOUT = 90.0  # seconds: TensorFlow alone takes ~4 s to import on two busy cores
OUTCOME_TIMEOUT = 60.0  # seconds to wait for rows once the service is ready


def png_bytes(digit: np.ndarray) -> bytes:
    """An MNIST digit as PNG bytes, dark ink on white paper as a scan looks."""
    buffer = io.BytesIO()
    Image.fromarray((255 - digit).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(path: Path, side: int = 30_000) -> Path:
    """A real side x side one-bit PNG (900 megapixels by default) that is under a megabyte on disk.

    Built with zlib row by row, so the test never holds the decoded image.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then one bit per pixel
    packer = zlib.compressobj(9)
    rows_per_piece = 1000
    data = (
        b"".join(packer.compress(row * min(rows_per_piece, side - start)) for start in range(0, side, rows_per_piece))
        + packer.flush()
    )
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def read_rows(path: Path) -> pd.DataFrame:
    """The results CSV as docs/results.md tells users to read it: all text, no NA guessing."""
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll until predicate() is true; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(interval)


def wait_for_rows(path: Path, count: int, *, timeout: float = OUTCOME_TIMEOUT) -> pd.DataFrame:
    """Wait until the CSV holds at least `count` rows; return them."""
    wait_for(lambda: _row_count(path) >= count, timeout=timeout, what=f"{count} rows in {path}")
    return read_rows(path)


def _row_count(path: Path) -> int:
    try:
        return len(read_rows(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return -1  # caught mid-append: look again


class ServiceProcess:
    """`digitwatch watch` as users run it, in a subprocess logging to a file; always stopped on exit."""

    command = "watch"  # the digitwatch command it runs

    def __init__(self, exe: str, log_path: Path, *args: object, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")
        # TMPDIR inside the test's folder: what a killed service leaves (multiprocessing's socket folder) goes with it.
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(log_path.parent), **(env or {}))
        self.process = subprocess.Popen(
            [exe, self.command, *map(str, args)], stdout=self._log, stderr=subprocess.STDOUT, env=environment
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait for the line logged when the backlog scan begins."""
        wait_for(
            lambda: "ready:" in self.log() or self.process.poll() is not None,
            timeout=timeout,
            what="the service to be ready",
        )
        assert self.process.poll() is None, f"service exited early:\n{self.log()}"

    def terminate(self, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, float]:
        """Send SIGTERM (or `sig`); return the exit code and the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def wait_exit(self, timeout: float = READY_TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: the crash the service must survive."""
        self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (children, grandchildren, ...), from /proc.

    Reads the children lists of `pid`'s family only (/proc/PID/task/TID/children): the leak check in
    conftest calls this twice a test, and reading every process's stat on a busy machine cost ~10 ms a
    call. Where the kernel keeps no children lists, every stat is read.
    """
    found: set[int] = set()
    frontier = {pid}
    children = _children if CHILDREN_LISTS else _children_by_parent()
    while frontier:
        frontier = {child for parent in frontier for child in children(parent)} - found
        found |= frontier
    return found


CHILDREN_LISTS = Path(f"/proc/self/task/{os.getpid()}/children").exists()  # Linux with CONFIG_PROC_CHILDREN


def _children(pid: int) -> set[int]:
    """The children of every thread of `pid`; none once it has exited."""
    found: set[int] = set()
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for thread in threads:
        try:
            found.update(int(child) for child in (thread / "children").read_text().split())
        except OSError:  # the thread ended while we looked
            continue
    return found


def _children_by_parent() -> Callable[[int], set[int]]:
    """Every process's parent, read from each /proc/PID/stat once; returns the lookup of a pid's children."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name in field 2 may hold spaces and parentheses: split after the last ')'.
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # exited while we looked
                continue
            parents[int(entry.name)] = int(fields[1])
    return lambda pid: {child for child, parent in parents.items() if parent == pid}


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
