"""Restarts for the soak test: when to stop the service, and a thread that stops it then starts it again at once."""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_run import EXE, StopRecord, WatchProcess

BURST_WINDOW = 4.0  # seconds after a burst starts within which a "during a burst" stop lands


@dataclass(frozen=True)
class PlannedStop:
    """A moment to stop the service, in seconds after the soak started."""

    at: float
    in_burst: bool


def burst_times(args: argparse.Namespace) -> list[float]:
    """When the soak's bursts start (in seconds after it started), leaving room for a stop after each."""
    last = args.minutes * 60 - BURST_WINDOW
    return [k * args.burst_every for k in range(1, int(last // args.burst_every) + 1)]


def plan_stops(args: argparse.Namespace) -> list[PlannedStop]:
    """`--restarts` random moments: a third within BURST_WINDOW of a burst, the rest one in each slice of the run."""
    rng = random.Random(args.seed)
    bursts = burst_times(args)
    in_bursts = min(args.restarts, max(1, args.restarts // 3)) if bursts else 0
    plan = [PlannedStop(rng.choice(bursts) + rng.uniform(0.0, BURST_WINDOW), True) for _ in range(in_bursts)]
    spread = args.restarts - in_bursts
    slice_seconds = (args.minutes * 60 - BURST_WINDOW) / max(spread, 1)
    plan += [PlannedStop((i + rng.random()) * slice_seconds, False) for i in range(spread)]
    return sorted(plan, key=lambda stop: stop.at)


class Runner:
    """The service as it runs now: started (and ready) at once, restarted in place with the same options."""

    def __init__(self, args: Sequence[str], log: Path, *, marker: str, exe: Path = EXE) -> None:
        self.args, self.log, self.marker, self.exe = list(args), log, marker, exe
        self.current = self._start()

    def _start(self) -> WatchProcess:
        service = WatchProcess(self.args, self.log, marker=self.marker, exe=self.exe)
        try:
            service.wait_ready()
        except RuntimeError:
            service.close()
            raise
        return service

    @property
    def pid(self) -> int:
        return self.current.pid

    def restart(self) -> StopRecord:
        """SIGTERM the service, check it ended cleanly, and start it again at once."""
        record = self.current.stop()
        self.current.close()
        self.current = self._start()
        return record

    def stop_final(self) -> StopRecord:
        """The last SIGTERM, at the end of the soak."""
        return self.current.stop()

    def close(self) -> None:
        """Kill whatever still runs."""
        self.current.close()


class Restarter(threading.Thread):
    """Restarts the service at each planned moment, while the soak keeps dropping files."""

    def __init__(self, runner: Runner, plan: list[PlannedStop], started: float) -> None:
        super().__init__(name="soak-restarter", daemon=True)
        self.runner, self.plan, self.started = runner, plan, started
        self.records: list[StopRecord] = []
        self.moments: list[dict[str, Any]] = []  # for each record: when it was sent, and if just after a burst
        self.error: str | None = None
        self._cancel = threading.Event()

    def run(self) -> None:
        for index, planned in enumerate(self.plan, start=1):
            if self._cancel.wait(max(0.0, self.started + planned.at - time.monotonic())):
                return
            at = time.monotonic() - self.started
            try:
                record = self.runner.restart()
            except Exception as exc:  # the service did not come back: the soak stops early and fails
                self.error = f"restart {index} at t={at:.1f}s: {exc}"
                return
            self.records.append(record)
            self.moments.append({"t": round(at, 1), "in_burst": planned.in_burst})
            print(
                f"stop {index}/{len(self.plan)} at t={at:7.1f}s ({'burst' if planned.in_burst else 'trickle'}):"
                f" exit {record.code} in {record.seconds:.2f}s, {record.family} descendants,"
                f" {record.orphans} orphans{' HANG' if record.hang else ''}",
                flush=True,
            )

    def cancel(self) -> None:
        """Skip the stops not yet due and wait for one in progress (the service is then up, or failed)."""
        self._cancel.set()
        if self.is_alive():
            self.join()
