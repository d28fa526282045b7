"""Faults of the files: a full disk, the results CSV rotated, an unreadable image, a results path that is not ours."""

from __future__ import annotations

import csv
import ctypes
import io
import resource
import subprocess
import time

import pandas as pd

from fault_kit import Figures, Folder, drop_pngs, png
from service_run import EXE, has_rows, read_rows, wait_until
from watcher.results.csv_file import header_bytes
from watcher.results.schema import COLUMNS

FSIZE_LIMIT = 6000  # bytes the service may write to any file: the header and some dozens of rows
FULL_FILES, FULL_GROUP = 100, 5  # files dropped, and how many at a time, so rows land in small batches
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
FOREIGN = b"id,name\n1,alice\n2,bob\n"
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, not in the forked child


def limit_file_size() -> None:
    """In the child before exec: no file may grow past FSIZE_LIMIT (writes then fail with EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def drop_read_override() -> None:
    """In the child before exec: take away root's power to read past permission bits."""
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if _LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def disk_full(folder: Folder) -> Figures:
    """The results file cannot grow: exit 1 naming it, whole rows only, nothing moved without its row;
    then a restart with room (--once) gives every file exactly one row."""
    names: list[str] = []
    with folder.watch("--after", "move", "--log-level", "ERROR", preexec_fn=limit_file_size, pipe_log=True) as service:
        for start in range(0, FULL_FILES, FULL_GROUP):
            names += drop_pngs(folder.inbox, FULL_GROUP, "full_", start=start)
            time.sleep(0.3)
        code = service.wait_exit(60.0)
        log = service.log_text()
    figures = {
        "exit_code": code,
        "error_names_results": f"cannot write to {folder.results}" in log,
        **ledger_after_fault(folder),
    }
    with folder.watch("--after", "move", "--once") as again:
        figures["restart_exit_code"] = again.wait_exit(120.0)
    counts = read_rows(folder.results)["filename"].value_counts()
    figures.update(
        rows_after_restart=int(counts.sum()),
        missing_after_restart=len(set(names) - set(counts.index)),
        duplicates=int((counts > 1).sum()),
    )
    figures["passed"] = (
        code == 1
        and figures["error_names_results"]
        and figures["ends_crlf"]
        and figures["whole_rows"]
        and figures["moved_without_row"] == 0
        and figures["restart_exit_code"] == 0
        and figures["missing_after_restart"] == 0
        and figures["duplicates"] == 0
        and figures["rows_after_restart"] == FULL_FILES
    )
    return figures


def ledger_after_fault(folder: Folder) -> Figures:
    """The CSV as the failed service left it, and which moved files have no row."""
    data = folder.results.read_bytes()
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    try:
        parsed = len(pd.read_csv(folder.results, dtype=str, keep_default_na=False))
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        parsed = -1
    named = {record[0] for record in records[1:]}
    processed = folder.root / "processed"
    moved = {path.name for path in processed.iterdir()} if processed.is_dir() else set()
    return {
        "rows_before_fault": len(records) - 1,
        "csv_bytes": len(data),
        "ends_crlf": data.endswith(b"\r\n"),
        "whole_rows": parsed == len(records) - 1 and all(len(r) == len(COLUMNS) for r in records),
        "moved": len(moved),
        "moved_without_row": len(moved - named),
    }


def rotation(folder: Folder) -> Figures:
    """The results CSV renamed away (as logrotate does), then deleted: rows go on in a new file with a header."""
    renamed = rotate(folder.sub("renamed"), rename=True)
    deleted = rotate(folder.sub("deleted"), rename=False)
    return {"passed": renamed.pop("passed") and deleted.pop("passed"), "renamed": renamed, "deleted": deleted}


def rotate(folder: Folder, *, rename: bool) -> Figures:
    """20 rows, rotate, 20 more files: the new file holds exactly those 20 after the header."""
    old = folder.results.with_name("predictions.csv.1")
    with folder.watch() as service:
        service.wait_ready()
        first = drop_pngs(folder.inbox, 20, "before_")
        wait_until(has_rows(folder.results, first), 30.0)
        if rename:
            folder.results.rename(old)
        else:
            folder.results.unlink()
        second = drop_pngs(folder.inbox, 20, "after_")
        seconds = wait_until(has_rows(folder.results, second), 30.0)
        log = service.log_text()
        record = service.stop()
    new, before = read_rows(folder.results), read_rows(old) if rename else pd.DataFrame({"filename": []})
    names = list(new["filename"]) + list(before["filename"])
    figures = {
        "seconds_to_new_rows": seconds,
        "new_file_rows": len(new),
        "new_file_header": folder.results.read_bytes().startswith(header_bytes() + b"\r\n"),
        "new_file_holds_new_names": set(new["filename"]) == set(second),
        "log_mentions_rotation": "rotation" in log,
        "exit_code": record.code,
    }
    if rename:
        figures.update(old_file_rows=len(before), union=len(set(names)), duplicates=len(names) - len(set(names)))
    figures["passed"] = (
        seconds is not None
        and len(new) == 20
        and figures["new_file_header"]
        and figures["new_file_holds_new_names"]
        and figures["log_mentions_rotation"]
        and record.code == 0
        and (not rename or (len(set(names)) == 40 and len(names) == 40))
    )
    return figures


def unreadable(folder: Folder) -> Figures:
    """A mode-000 file the service may not read: an error row naming permission, then a real row after chmod."""
    with folder.watch("--rescan-interval", "2", preexec_fn=drop_read_override) as service:
        service.wait_ready()
        locked = folder.inbox / "locked.png"
        (folder.inbox / "locked.png.part").write_bytes(png(0))
        (folder.inbox / "locked.png.part").chmod(0o000)
        (folder.inbox / "locked.png.part").rename(locked)
        (folder.inbox / "ok.png").write_bytes(png(0))
        first = wait_until(has_rows(folder.results, ["locked.png", "ok.png"]), 30.0)
        locked.chmod(0o644)
        second = wait_until(lambda: (read_rows(folder.results)["filename"] == "locked.png").sum() >= 2, 15.0)
        record = service.stop()
    return unreadable_figures(read_rows(folder.results), first, second, record.code)


def unreadable_figures(rows: pd.DataFrame, first: float | None, second: float | None, code: int) -> Figures:
    """What the rows of ok.png and locked.png say, and whether that is what docs/service.md promises."""
    ok = rows[rows["filename"] == "ok.png"].to_dict("records")
    locked = rows[rows["filename"] == "locked.png"].to_dict("records")
    real = ok[0]["sha256"] if ok else None
    figures = {
        "seconds_to_first_rows": first,
        "seconds_after_chmod": second,
        "exit_code": code,
        "ok_png": [(r["status"], r["detail"]) for r in ok],
        "locked_png": [
            {
                "status": r["status"],
                "detail": r["detail"],
                "sha256": "real" if r["sha256"] == real else r["sha256"] or "empty",
            }
            for r in locked
        ],
    }
    figures["passed"] = (
        len(ok) == 1
        and ok[0]["status"] == "ok"
        and len(locked) == 2
        and locked[0]["status"] == "error"
        and "permission" in locked[0]["detail"].lower()
        and locked[0]["sha256"] == ""
        and locked[1]["status"] == "ok"
        and locked[1]["sha256"] == real
        and code == 0
    )
    return figures


def foreign_results(folder: Folder) -> Figures:
    """A user's CSV at the results path: `watch` and `classify --results` both refuse and leave it byte-identical."""
    folder.results.parent.mkdir(parents=True)
    folder.results.write_bytes(FOREIGN)
    drop_pngs(folder.inbox, 1, "digit_")
    image = folder.inbox / "digit_00000.png"
    watch = run_cli("watch", "--inbox", str(folder.inbox), "--results", str(folder.results))
    classify = run_cli("classify", str(image), "--results", str(folder.results))
    identical = folder.results.read_bytes() == FOREIGN
    extra = sorted(path.name for path in folder.results.parent.iterdir() if path != folder.results)
    return {
        "passed": watch.returncode == 1 and classify.returncode == 1 and identical and not extra,
        "watch_exit": watch.returncode,
        "classify_exit": classify.returncode,
        "byte_identical": identical,
        "files_beside_it": extra,
        "watch_says": last_line(watch.stderr),
        "classify_says": last_line(classify.stderr),
    }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script to completion."""
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120)


def last_line(text: str) -> str:
    """The last non-blank line of a command's output (its error message)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
