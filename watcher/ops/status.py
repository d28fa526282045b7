"""Is the service alive? Judged from its status file: its state, whether its pid lives, how fresh it is."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from watcher.ops.heartbeat import Heartbeat, StatusError, read_heartbeat, status_path_for
from watcher.protocol import ServiceState

__all__ = ["Health", "StatusError", "StatusReport", "check_status"]


class Health(StrEnum):
    """What the status file says about the service, judged now."""

    RUNNING = "running"  # its process lives and wrote a heartbeat recently
    STOPPED = "stopped"  # it exited cleanly
    NOT_RUNNING = "not running"  # its process is gone without saying so: it crashed or was killed
    STALE = "stale"  # its process lives but has not written a heartbeat for too long: stuck?


@dataclass(frozen=True)
class StatusReport:
    """The verdict on one status file, with a line for a person."""

    health: Health
    heartbeat: Heartbeat
    age: float  # seconds since the last heartbeat
    summary: str

    @property
    def ok(self) -> bool:
        """True when the service runs and its heartbeat is fresh."""
        return self.health is Health.RUNNING


def check_status(results: Path, *, stale_after: float) -> StatusReport:
    """Judge the service writing `results` from its status file; raises StatusError when there is none."""
    path = status_path_for(results)
    beat = read_heartbeat(path)
    try:
        updated = datetime.fromisoformat(beat.updated_at).timestamp()
    except ValueError as exc:
        raise StatusError(f"{path} is not a digitwatch status file (updated_at {beat.updated_at!r})") from exc
    # A heartbeat from the future (a clock set back) counts as fresh rather than as negative age.
    age = max(0.0, time.time() - updated)
    if beat.state is ServiceState.STOPPED:
        health, why = Health.STOPPED, f"it stopped cleanly at {beat.updated_at}"
    elif not pid_alive(beat.pid):
        health, why = Health.NOT_RUNNING, f"pid {beat.pid} is gone; it crashed or was killed {_ago(age)}"
    elif age > stale_after:
        health, why = (
            Health.STALE,
            (
                f"pid {beat.pid} lives, but its last heartbeat was {_ago(age)} "
                f"(more than {stale_after:g} s): it may be stuck"
            ),
        )
    else:
        health, why = Health.RUNNING, f"pid {beat.pid}, since {beat.started_at}, last heartbeat {_ago(age)}"
    return StatusReport(health=health, heartbeat=beat, age=age, summary=_summary(health, why, beat))


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (on this machine)."""
    if sys.platform == "win32":
        return True  # os.kill would terminate it there; staleness still tells a dead service
    if pid <= 0:
        return False  # 0 and negative pids name process groups, not a process
    try:
        os.kill(pid, 0)  # signal 0: checks existence and permission, delivers nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user (the service's own account)
    return True


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _summary(health: Health, why: str, beat: Heartbeat) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in beat.counts.items()) or "nothing counted yet"
    last_row = beat.last_row_at or "none yet"
    return (
        f"digitwatch {health}: {why}\n"
        f"  counts: {counts}; queue depth {beat.queue_depth}\n"
        f"  last row: {last_row}\n"
        f"  inbox: {beat.inbox}\n"
        f"  results: {beat.results} (digitwatch {beat.version})"
    )
