"""Drive the installed `digitwatch watch` from outside, as an operator would: start, stop, look at /proc, count rows.

Shared by the soak test and the fault runner. A `WatchProcess` is one run of
the console script with its log in a file. `stop` sends a signal and measures
the exit (seconds, exit code, hang) and whether every process the service
started (decode workers, multiprocessing's forkserver and resource tracker)
is gone within `ORPHAN_GRACE` of it. The caller makes itself a child
subreaper first (`become_subreaper`), so a descendant orphaned by the
service's death is re-parented to the caller and can still be found.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from PIL import Image

from processes import descendants, kill_all, mentioning, wait_gone

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "data" / "mnist_small.npz"
EXE = Path(sys.executable).parent / "digitwatch"
HANG_AFTER = 5.0  # seconds: a stop slower than this is a hang
KILL_AFTER = 30.0  # seconds: a stop still running then is ended with SIGKILL, so the caller can go on
ORPHAN_GRACE = 2.0  # seconds the service's descendants get to exit after it
POLL = 0.05  # seconds between looks at the log or the process while waiting
READY_TIMEOUT = 120.0  # seconds for the model to load and the "ready:" line to appear


@dataclass(frozen=True)
class StopRecord:
    """How one stop went."""

    seconds: float  # from the signal to the exit
    code: int  # exit code (negative: killed by that signal)
    hang: bool  # took longer than HANG_AFTER
    killed: bool  # still running after KILL_AFTER, so ended with SIGKILL
    family: int  # descendants seen (workers, forkserver, resource tracker)
    orphans: int  # of those, still alive ORPHAN_GRACE after the exit (then killed)
    gone_seconds: float | None  # from the signal until the last descendant was gone (None: some never went)


@cache
def digit_pngs() -> tuple[bytes, ...]:
    """The 1,000 small test digits as PNG bytes (dark ink on white)."""
    with np.load(DIGITS) as archive:
        images = archive["x_test"]
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(255 - image).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return tuple(out)


class WatchProcess:
    """One run of `digitwatch watch ARGS` with its output appended to `log`; use as a context manager."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        *,
        marker: str,
        preexec_fn: Callable[[], None] | None = None,
        pipe_log: bool = False,
        exe: Path = EXE,
    ) -> None:
        """`marker`: text in the service's command line (its inbox); `pipe_log`: log through a pipe
        that this process copies to the file, for a service whose own file writes are limited."""
        self.log = log
        self.marker = marker
        self.offset = log.stat().st_size if log.exists() else 0
        self._handle = open(log, "ab")
        output: IO[bytes] | int = subprocess.PIPE if pipe_log else self._handle
        self.popen = subprocess.Popen(
            [str(exe), "watch", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        self._pump = threading.Thread(target=self._copy_log, daemon=True) if pipe_log else None
        if self._pump is not None:
            self._pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _copy_log(self) -> None:
        assert self.popen.stdout is not None
        while chunk := os.read(self.popen.stdout.fileno(), 65536):
            self._handle.write(chunk)
            self._handle.flush()

    def log_text(self) -> str:
        """What this run has logged so far."""
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode("utf-8", errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Wait for the "ready:" line; return the seconds waited. Raises RuntimeError if it never comes."""
        started = time.monotonic()
        while "ready:" not in self.log_text():
            if self.popen.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"service did not become ready (exit {self.popen.poll()}); see {self.log}")
            time.sleep(POLL)
        return time.monotonic() - started

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if it still runs after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> StopRecord:
        """Send `sig`, wait for the exit (SIGKILL after KILL_AFTER), then for every descendant to be gone."""
        family = descendants(self.pid)
        sent = time.monotonic()
        self.popen.send_signal(sig)
        while self.popen.poll() is None and time.monotonic() - sent < KILL_AFTER:
            family |= descendants(self.pid)  # workers started while it stops count too
            time.sleep(POLL)
        killed = self.popen.poll() is None
        if killed:
            self.popen.kill()
        code = self.popen.wait()
        exited = time.monotonic()
        family |= descendants(os.getpid()) | mentioning(self.marker)  # adopted orphans; anything on our inbox
        gone, survivors = wait_gone(family, deadline=exited + ORPHAN_GRACE, since=sent)
        kill_all(survivors)
        return StopRecord(
            seconds=round(exited - sent, 3),
            code=code,
            hang=exited - sent > HANG_AFTER,
            killed=killed,
            family=len(family),
            orphans=len(survivors),
            gone_seconds=None if survivors else gone,
        )

    def close(self) -> None:
        """Kill the service and everything it started, if still running; close the log."""
        if self.popen.poll() is None:
            family = descendants(self.pid)
            self.popen.kill()
            self.popen.wait()
            kill_all(family | descendants(os.getpid()))
        if self._pump is not None:
            self._pump.join(timeout=5.0)
        self._handle.close()

    def __enter__(self) -> WatchProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_rows(results: Path) -> pd.DataFrame:
    """The results CSV as strings, as docs/results.md says to read it (empty when missing or mid-write)."""
    try:
        return pd.read_csv(results, dtype=str, keep_default_na=False)
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame({"filename": [], "status": [], "detail": [], "sha256": []}, dtype=str)


def wait_until(predicate: Callable[[], bool], timeout: float, *, interval: float = 0.1) -> float | None:
    """Seconds until `predicate()` held, or None when it did not within `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(interval)
    return round(time.monotonic() - started, 3)


def has_rows(results: Path, names: Sequence[str]) -> Callable[[], bool]:
    """A predicate: every one of `names` has a row in `results`."""
    wanted = set(names)
    return lambda: wanted <= set(read_rows(results)["filename"])
