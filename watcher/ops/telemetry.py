"""The one object through which the service reports its health: systemd, the status file, Prometheus.

The service calls `tick` on every turn of its loop, so `tick` only compares
two clocks most of the time; the file write and the systemd datagrams happen
at most once per interval. Nothing here may stop the service: a status file
that cannot be written or a notify socket that is gone is logged and
skipped. Only `start` raises, for a metrics port that cannot be served,
because the operator asked for it and should hear at once.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from watcher import __version__
from watcher.clock import utc_now
from watcher.ops import sdnotify
from watcher.ops.heartbeat import (
    HEARTBEAT_SECONDS,
    Heartbeat,
    StatusError,
    read_heartbeat,
    status_path_for,
    write_heartbeat,
)
from watcher.ops.metrics import Metrics
from watcher.protocol import ErrorKind, ServiceState, Status

log = logging.getLogger(__name__)


class TelemetryError(Exception):
    """Telemetry that was asked for cannot start (the metrics port cannot be bound)."""


class Telemetry:
    """What the service says about itself: systemd notifications, the status file, Prometheus metrics."""

    def __init__(
        self,
        *,
        inbox: Path,
        results: Path,
        metrics_port: int | None = None,
        metrics_address: str = "127.0.0.1",
        heartbeat_interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.inbox = inbox
        self.results = results
        self.status_path = status_path_for(results)
        self.metrics = Metrics()
        self.metrics_port = metrics_port
        self.metrics_address = metrics_address
        self.heartbeat_interval = heartbeat_interval  # seconds between status file writes
        self._watchdog = sdnotify.watchdog_interval()  # seconds, or None when systemd watches nothing
        self._started_at = utc_now()
        self._last_row_at: str | None = None
        self._rows: collections.Counter[str] = collections.Counter()
        self._counts: Mapping[str, int] = {}
        self._queue_depth = 0
        self._next_heartbeat = 0.0  # time.monotonic() values
        self._next_watchdog = 0.0
        self._status_file = True  # False when the file there is not ours: then it is left alone
        self._closed = False

    def start(self) -> None:
        """Serve metrics when a port was given; raises TelemetryError when it cannot be bound."""
        self._status_file = self._status_file_is_ours()
        if self.metrics_port is None:
            return
        host = f"[{self.metrics_address}]" if ":" in self.metrics_address else self.metrics_address  # IPv6
        where = f"{host}:{self.metrics_port}"
        if not 0 <= self.metrics_port <= 65535:
            raise TelemetryError(f"--metrics-port {self.metrics_port} is not a port number (0 to 65535)")
        try:
            self.metrics.serve(self.metrics_port, address=self.metrics_address)
        except OSError as exc:
            raise TelemetryError(
                f"cannot serve metrics on {where}: {exc.strerror or exc}; "
                "choose another --metrics-port or stop what is using it"
            ) from exc

    def ready(self) -> None:
        """Tell systemd the service is ready, and write the first heartbeat."""
        sdnotify.notify(f"READY=1\nSTATUS=watching {self.inbox}, results {self.results}")
        self._heartbeat(ServiceState.RUNNING)

    def rows(self, statuses: Sequence[str], *, batch_seconds: float) -> None:
        """Count a batch's rows once they are durable; error rows also count as read errors."""
        by_status = collections.Counter(statuses)
        for status, count in by_status.items():
            self.metrics.rows.labels(status=status).inc(count)
        if by_status[Status.ERROR]:
            self.metrics.errors.labels(kind=ErrorKind.READ).inc(by_status[Status.ERROR])
        self._rows.update(by_status)
        self.metrics.batch_seconds.observe(batch_seconds)
        if statuses:
            self.metrics.last_row.set_to_current_time()
            self._last_row_at = utc_now()

    def error(self, kind: ErrorKind) -> None:
        """Count an error; READ errors are counted by `rows` from error rows, so pass DISPOSE or RESULTS."""
        self.metrics.errors.labels(kind=kind).inc()

    def tick(self, *, queue_depth: int, counts: Mapping[str, int]) -> None:
        """Note the queue and counts; write the heartbeat and pet the watchdog when due. Never raises."""
        try:
            self._queue_depth = queue_depth
            self._counts = counts
            self.metrics.queue_depth.set(queue_depth)
            now = time.monotonic()
            if self._watchdog is not None and now >= self._next_watchdog:
                # Half the interval, as sd_watchdog_enabled(3) advises, so one slow turn does not trip it.
                self._next_watchdog = now + self._watchdog / 2
                sdnotify.notify("WATCHDOG=1")
            if now >= self._next_heartbeat:
                self._heartbeat(ServiceState.RUNNING)
                done = ", ".join(f"{name} {n}" for name, n in counts.items())
                sdnotify.notify(f"STATUS={done or 'running'}; queue depth {queue_depth}")  # for systemctl status
        except Exception:  # telemetry must never stop the service; whatever went wrong is for debugging
            log.debug("telemetry tick failed", exc_info=True)

    def stopping(self) -> None:
        """Tell systemd the service is stopping."""
        sdnotify.notify("STOPPING=1")

    def close(self) -> None:
        """Write the final heartbeat (state stopped) and stop the metrics server. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._heartbeat(ServiceState.STOPPED)
        finally:
            self.metrics.close()

    @property
    def counts(self) -> dict[str, int]:
        """The counts the status file holds: the service's own, then rows written per status."""
        return {**self._counts, **{f"rows_{status}": n for status, n in sorted(self._rows.items())}}

    def _heartbeat(self, state: ServiceState) -> None:
        """Write the status file now (when it is ours), and schedule the next."""
        self._next_heartbeat = time.monotonic() + self.heartbeat_interval
        if self._status_file:
            write_heartbeat(
                self.status_path,
                Heartbeat(
                    pid=os.getpid(),
                    state=state,
                    started_at=self._started_at,
                    updated_at=utc_now(),
                    last_row_at=self._last_row_at,
                    counts=self.counts,
                    queue_depth=self._queue_depth,
                    inbox=str(self.inbox),
                    results=str(self.results),
                    version=__version__,
                ),
            )

    def _status_file_is_ours(self) -> bool:
        """A file already at the status path must be a status file (a crash leaves one); else leave it alone."""
        if not self.status_path.exists():
            return True
        try:
            read_heartbeat(self.status_path)
        except StatusError as exc:
            log.warning("%s; leaving it alone, so this run writes no status file", exc)
            return False
        return True
