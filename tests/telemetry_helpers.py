"""Helpers for the telemetry and status tests: a real systemd notify socket, leak checks, heartbeats."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.ops.heartbeat import Heartbeat, status_path_for, write_heartbeat
from watcher.protocol import ServiceState


class NotifyReceiver:
    """A bound Unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)

    def receive(self, timeout: float = 2.0) -> str:
        """The next datagram, waiting up to `timeout` seconds (socket.timeout after that)."""
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode("utf-8")

    def pending(self) -> list[str]:
        """Every datagram already received, without waiting."""
        self.sock.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096).decode("utf-8"))
            except BlockingIOError:
                return messages

    def close(self) -> None:
        self.sock.close()


def heartbeat(results: Path, **changes: object) -> Heartbeat:
    """A fresh heartbeat of this very process, running, with `changes` applied."""
    now = datetime.now(UTC).isoformat()
    beat = Heartbeat(
        pid=os.getpid(),
        state=ServiceState.RUNNING,
        started_at=now,
        updated_at=now,
        last_row_at=None,
        counts={"seen": 3, "classified": 2, "failed": 1, "skipped": 0},
        queue_depth=0,
        inbox=str(results.parent / "inbox"),
        results=str(results),
        version="0.1.0",
    )
    return replace(beat, **changes)  # type: ignore[arg-type]


def write_status(results: Path, **changes: object) -> Path:
    """Write a heartbeat for `results` where the service would; returns the status file."""
    path = status_path_for(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert write_heartbeat(path, heartbeat(results, **changes))
    return path


def seconds_ago(seconds: float) -> str:
    """An ISO 8601 UTC time this many seconds in the past."""
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
