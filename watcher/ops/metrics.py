"""Prometheus metrics, served on an opt-in port by prometheus-client's own HTTP server.

Each `Metrics` has a registry of its own rather than the library's global
one, so that several can live in one process (tests) and nothing else that
imports prometheus-client adds its series to ours.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from watcher.protocol import ErrorKind, Status

log = logging.getLogger(__name__)

# Seconds per batch, from one small file read at once (1 ms) to a large backlog batch (30 s).
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """digitwatch's metrics in a private registry, and the HTTP server that exposes them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rows = Counter(
            "digitwatch_rows", "Rows written to the results CSV, by status.", ["status"], registry=self.registry
        )
        self.errors = Counter(
            "digitwatch_errors",
            "Errors, by kind: read (an error row), "
            "dispose (a file not moved or deleted), results (the CSV not written).",
            ["kind"],
            registry=self.registry,
        )
        self.queue_depth = Gauge("digitwatch_queue_depth", "Files waiting to be read.", registry=self.registry)
        self.batch_seconds = Histogram(
            "digitwatch_batch_seconds",
            "Seconds to read, classify and record a batch.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.last_row = Gauge(
            "digitwatch_last_row_timestamp_seconds", "Unix time of the last row written.", registry=self.registry
        )
        # Every label value exists from the start, so a rate() over it sees 0 rather than no series.
        for status in Status:
            self.rows.labels(status=status)
        for kind in ErrorKind:
            self.errors.labels(kind=kind)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        """The port being served (the one the system chose when 0 was asked for), or None."""
        return None if self._server is None else int(self._server.server_port)

    def serve(self, port: int, *, address: str = "127.0.0.1") -> int:
        """Serve /metrics on address:port from a background thread; raises OSError when it cannot bind."""
        if self._server is not None:
            raise RuntimeError("metrics are already served")
        # prometheus-client >= 0.20 returns the server and its thread, so close() can stop both.
        self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        log.info("serving metrics on http://%s:%d/metrics", address, self._server.server_port)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop the HTTP server and wait for its thread; nothing is left running. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()  # returns once serve_forever has stopped: up to its 0.5 s poll interval
        server.server_close()
        thread.join()
