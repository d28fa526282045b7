"""The status file: a small JSON heartbeat beside the results CSV that `digitwatch status` reads.

It is advisory: written atomically (a reader never sees half a file) but
without fsync, and a failure to write it is logged, never raised, so a full
or read-only results folder cannot stop the service through it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from watcher.protocol import ServiceState

log = logging.getLogger(__name__)

STATUS_SUFFIX = ".status.json"
HEARTBEAT_SECONDS = 5.0  # seconds between two writes of the status file by a running service

_failing: set[Path] = set()  # status files whose write failed and was warned about; warned again after a success


class StatusError(Exception):
    """The status file is missing, unreadable, or not a digitwatch status file."""


@dataclass(frozen=True)
class Heartbeat:
    """What the running service last said about itself."""

    pid: int
    state: ServiceState
    started_at: str  # ISO 8601, UTC
    updated_at: str  # ISO 8601, UTC
    last_row_at: str | None  # ISO 8601, UTC; None until a row is written
    counts: dict[str, int]
    queue_depth: int
    inbox: str
    results: str
    version: str


# Each field's JSON type, checked on reading so that a foreign or damaged file is refused with its reason.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "pid": (int,),
    "state": (str,),
    "started_at": (str,),
    "updated_at": (str,),
    "last_row_at": (str, type(None)),
    "counts": (dict,),
    "queue_depth": (int,),
    "inbox": (str,),
    "results": (str,),
    "version": (str,),
}


def status_path_for(results: Path) -> Path:
    """The status file of a results CSV: its name with `.status.json` appended."""
    return results.with_name(results.name + STATUS_SUFFIX)


def write_heartbeat(path: Path, heartbeat: Heartbeat) -> bool:
    """Replace the status file atomically; False (warned once) when it cannot be written."""
    # One temporary name per writer thread, in the same folder so os.replace is atomic.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = json.dumps(asdict(heartbeat), indent=2).encode("utf-8") + b"\n"
    try:
        # os.open with 0o666 honours the umask, so an operator's `digitwatch status` can read it.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with open(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        _warn_once(path, exc)
        with contextlib.suppress(OSError):  # the folder may be gone or read-only: then nothing was left
            temporary.unlink(missing_ok=True)
        return False
    if path in _failing:
        _failing.discard(path)
        log.info("status file %s is written again", path)
    return True


def _warn_once(path: Path, exc: OSError) -> None:
    """Warn at the first failure only: the next attempt comes within seconds and would say the same."""
    if path in _failing:
        log.debug("status file %s still cannot be written: %s", path, exc)
        return
    _failing.add(path)
    log.warning("cannot write the status file %s (%s); the service goes on without it", path, exc)


def read_heartbeat(path: Path) -> Heartbeat:
    """Read a status file; raises StatusError saying why when it is missing, unreadable or not ours."""
    try:
        data: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StatusError(f"no status file at {path}") from None
    except OSError as exc:
        raise StatusError(f"cannot read the status file {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusError(f"{path} is not a digitwatch status file (not JSON: {exc})") from exc
    if not isinstance(data, dict):
        raise StatusError(f"{path} is not a digitwatch status file (not a JSON object)")
    for name, types in _FIELD_TYPES.items():
        # bool is an int in Python, but never a pid, a count or a depth.
        if name not in data or not isinstance(data[name], types) or isinstance(data[name], bool):
            raise StatusError(f"{path} is not a digitwatch status file (field {name!r} missing or mistyped)")
    if data["state"] not in set(ServiceState):
        raise StatusError(f"{path} is not a digitwatch status file (unknown state {data['state']!r})")
    counts = data["counts"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values()):
        raise StatusError(f"{path} is not a digitwatch status file (counts must be integers)")
    fields = {name: data[name] for name in _FIELD_TYPES}
    return Heartbeat(**{**fields, "state": ServiceState(data["state"])})
