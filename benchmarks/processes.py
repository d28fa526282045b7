"""The processes below a service, read from /proc: find them, tell whether each still runs, end them.

A process is named by (pid, start time), so a pid reused by an unrelated
process is never mistaken for one of ours. Zombies count as gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
POLL = 0.025  # seconds between looks at /proc while waiting

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def become_subreaper() -> None:
    """Adopt the orphans of our children (Linux), so a process a dead service left behind is still found."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state (field 3) on, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time) for every live process."""
    table = {}
    for entry in os.listdir("/proc"):
        fields = _stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None and fields[0] not in ("Z", "X"):
            table[int(entry)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(pid: int) -> set[Proc]:
    """Every live process below `pid` (children, their children, ...)."""
    table = _process_table()
    children: dict[int, list[int]] = defaultdict(list)
    for child, (parent, _) in table.items():
        children[parent].append(child)
    found: set[Proc] = set()
    todo = list(children[pid])
    while todo:
        child = todo.pop()
        found.add((child, table[child][1]))
        todo.extend(children[child])
    return found


def alive(proc: Proc) -> bool:
    """True while this very process (pid and start time) runs; a zombie counts as gone."""
    fields = _stat_fields(proc[0])
    return fields is not None and int(fields[19]) == proc[1] and fields[0] not in ("Z", "X")


def mentioning(text: str) -> set[Proc]:
    """Live processes other than this one whose command line contains `text`."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = _stat_fields(int(entry))
        if text.encode() in command and fields is not None and fields[0] not in ("Z", "X"):
            found.add((int(entry), int(fields[19])))
    return found


def reap(procs: set[Proc]) -> None:
    """Collect the exit status of adopted processes that have ended (they stay zombies otherwise)."""
    for pid, _ in procs:
        with contextlib.suppress(ChildProcessError):  # not our child
            os.waitpid(pid, os.WNOHANG)


def wait_gone(procs: set[Proc], *, deadline: float, since: float) -> tuple[float, set[Proc]]:
    """Wait until none of `procs` lives or the deadline; (seconds from `since` to the last exit, survivors)."""
    living = set(procs)
    last_gone = since
    while True:
        reap(living)
        still = {proc for proc in living if alive(proc)}
        if len(still) < len(living):
            last_gone = time.monotonic()
        living = still
        if not living or time.monotonic() > deadline:
            return round(last_gone - since, 3), living
        time.sleep(POLL)


def kill_all(procs: set[Proc]) -> None:
    """SIGKILL every process still alive among `procs`, and collect the ones we adopted."""
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc[0], signal.SIGKILL)
    wait_gone(procs, deadline=time.monotonic() + 5.0, since=time.monotonic())
