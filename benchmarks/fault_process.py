"""Faults of the process and its events: SIGTERM, SIGKILL, the inbox deleted, the kernel's event queue overflowing."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import statistics
import time
from collections import Counter
from pathlib import Path

from fault_kit import Dropper, Figures, Folder, drop_pngs
from processes import descendants
from service_run import StopRecord, has_rows, read_rows, wait_until

SIGTERM_RUNS = 5
SIGTERM_AFTER = 20.0  # seconds the service runs with files flowing before the SIGTERM
SIGTERM_LIMIT = 2.0  # seconds from SIGTERM to exit, as promised
BURST_LEAD = 0.3  # seconds before the SIGTERM that a burst lands, so a batch is in hand when it comes
BURST = 40  # files: enough for the decode workers
KILL9_BACKLOG = 400  # files waiting at start-up, so the decode workers run
ORPHAN_LIMIT = 2.0  # seconds after SIGKILL by which every descendant must be gone
RECREATE_PAUSE = 3.0  # seconds the inbox stays deleted
RECREATE_LIMIT = 30.0  # seconds from re-creation for the new files' rows
OVERFLOW_LIMIT = 20.0  # seconds after SIGCONT for the rows of files whose events were lost
STOPPED_FILES = 10  # files written while the service is stopped


def sigterm(folder: Folder) -> Figures:
    """SIGTERM after 20 s with files flowing, five times: exit 0 within 2 s each time, nothing left, no duplicate."""
    records = [run_then_sigterm(folder, run) for run in range(SIGTERM_RUNS)]
    seconds = [record.seconds for record in records]
    counts = read_rows(folder.results)["filename"].value_counts()
    figures = {
        "seconds": seconds,
        "max": max(seconds),
        "median": round(statistics.median(seconds), 3),
        "exit_codes": [record.code for record in records],
        "orphans": sum(r.orphans for r in records),
        "descendants": [record.family for record in records],
        "duplicates": int((counts > 1).sum()),
    }
    figures["passed"] = (
        all(r.code == 0 and r.seconds <= SIGTERM_LIMIT for r in records)
        and figures["orphans"] == 0
        and figures["duplicates"] == 0
    )
    return figures


def run_then_sigterm(folder: Folder, run: int) -> StopRecord:
    """One run: ready, 20 s of a trickle with a burst just before the end, then SIGTERM while files still flow."""
    with folder.watch() as service:
        service.wait_ready()
        with Dropper(folder.inbox, f"run{run}_", interval=0.1):
            time.sleep(SIGTERM_AFTER - BURST_LEAD)
            drop_pngs(folder.inbox, BURST, f"run{run}_burst_")
            time.sleep(BURST_LEAD)
            return service.stop()


def kill9_orphans(folder: Folder) -> Figures:
    """SIGKILL while decode workers run on a backlog: every descendant gone within 2 s."""
    drop_pngs(folder.inbox, KILL9_BACKLOG, "backlog_")
    with folder.watch() as service:
        service.wait_ready()
        expected = 2 + len(os.sched_getaffinity(0))  # forkserver, resource tracker, a worker per core
        wait_until(lambda: len(descendants(service.pid)) >= expected, 30.0, interval=0.02)
        rows_at_kill = len(read_rows(folder.results))
        record = service.stop(signal.SIGKILL)
    gone = record.gone_seconds
    return {
        "passed": record.family >= 3 and record.orphans == 0 and gone is not None and gone <= ORPHAN_LIMIT,
        "descendants": record.family,
        "seconds_until_last_gone": gone,
        "left_running": record.orphans,
        "rows_at_kill": rows_at_kill,
        "backlog": KILL9_BACKLOG,
    }


def inbox_recreated(folder: Folder) -> Figures:
    """The inbox deleted for 3 s then created again: its new files get rows, without a restart."""
    with folder.watch() as service:
        service.wait_ready()
        shutil.rmtree(folder.inbox)
        time.sleep(RECREATE_PAUSE)
        folder.inbox.mkdir()
        recreated = time.monotonic()
        names = drop_pngs(folder.inbox, 10, "back_")
        arrived = wait_until(has_rows(folder.results, names), RECREATE_LIMIT)
        seconds = None if arrived is None else round(time.monotonic() - recreated, 2)
        running = service.popen.poll() is None
        log = service.log_text()
        record = service.stop()
    return {
        "passed": seconds is not None and running and record.code == 0,
        "seconds_to_last_row": seconds,
        "ran_throughout": running,
        "exit_code": record.code,
        "logged_gone": "is gone" in log,
        "logged_observer_restart": "restarting it" in log,
    }


def overflow(folder: Folder) -> Figures:
    """A real inotify overflow while SIGSTOPped: the lost files still get rows; the control loses no event."""
    lost = stopped_run(folder.sub("overflow"), churn=churn_count())
    control = stopped_run(folder.sub("control"), churn=0)
    passed = (
        lost["rows"] == STOPPED_FILES
        and lost["overflow_logged"]
        and set(lost["queued_by"]) == {"scan"}
        and control["rows"] == STOPPED_FILES
        and not control["overflow_logged"]
        and "scan" not in control["queued_by"]
    )
    return {"passed": passed, "overflow": lost, "control": control}


def churn_count() -> int:
    """Create-write-close-delete cycles (about 4 events each) to overflow the kernel queue one and a half times."""
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    return math.ceil(queued * 1.5 / 4)


def stopped_run(folder: Folder, *, churn: int) -> Figures:
    """SIGSTOP the idle service, churn an ignored file, write digits, SIGCONT: seconds until their rows."""
    with folder.watch("--rescan-interval", "3600") as service:
        service.wait_ready()
        time.sleep(1.0)  # idle: the (empty) backlog scan is done
        os.kill(service.pid, signal.SIGSTOP)
        try:
            churn_inbox(folder.inbox, churn)
            names = drop_pngs(folder.inbox, STOPPED_FILES, "while_stopped_")
        finally:
            os.kill(service.pid, signal.SIGCONT)
        seconds = wait_until(has_rows(folder.results, names), OVERFLOW_LIMIT)
        rows = len(set(names) & set(read_rows(folder.results)["filename"]))
        log = service.log_text()
        record = service.stop()
    return {
        "churn_cycles": churn,
        "rows": rows,
        "seconds_after_sigcont": seconds,
        "overflow_logged": "queue overflowed" in log,
        "queued_by": queued_by(log, "while_stopped_"),
        "exit_code": record.code,
    }


def queued_by(log: str, prefix: str) -> dict[str, int]:
    """How the files named PREFIX... were offered: by a scan, or by which event ("queued NAME (KIND)")."""
    kinds = re.findall(rf"queued {re.escape(prefix)}\S+ \((\w+)\)", log)
    return dict(Counter(kinds))


def churn_inbox(inbox: Path, cycles: int) -> None:
    """Create, write, close and delete an ignored scratch file over and over (4 inotify events a cycle)."""
    scratch = inbox / "churn.tmp"
    for _ in range(cycles):
        with open(scratch, "wb") as handle:
            handle.write(b"x")
        os.unlink(scratch)
