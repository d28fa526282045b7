"""Faults the service must survive or refuse clearly, run as users run it (the installed console script).

A full disk, the results file rotated away, a real inotify overflow, a file
the service may not read, nonsense settings, and files --once cannot move.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service_helpers import ServiceProcess, png_bytes, read_rows, wait_for, wait_for_rows
from watcher.cli import app

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


@pytest.fixture
def layout(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "results").mkdir()  # a --results given must be in a folder that exists
    return inbox, tmp_path / "results" / "predictions.csv"


@pytest.fixture
def digit(mnist_small):
    return lambda i: png_bytes(mnist_small["x_test"][i % 1000])


# --- nonsense settings: exit 2 naming the option -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--settle", "inf"], "--settle"),
        (["--settle", "nan"], "--settle"),
        (["--rescan-interval", "1e9"], "--rescan-interval"),
        (["--poll", "inf"], "--poll"),
        (["--summary-interval", "nan"], "--summary-interval"),
        (["--patterns", "*.png;*.jpg"], "--patterns"),
        (["--patterns", " , "], "--patterns"),
        (["--ignore", "*.bak;*.old"], "--ignore"),
    ],
)
def test_nonsense_settings_exit_2_naming_the_option(tmp_path, args, option):
    (tmp_path / "inbox").mkdir()
    result = CliRunner().invoke(
        app, ["watch", "--inbox", str(tmp_path / "inbox"), "--results", str(tmp_path / "r.csv"), *args]
    )
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not (tmp_path / "r.csv").exists()


def test_nonsense_settings_from_the_environment_are_refused_too(tmp_path):
    (tmp_path / "inbox").mkdir()
    result = CliRunner().invoke(
        app,
        ["watch", "--inbox", str(tmp_path / "inbox"), "--results", str(tmp_path / "r.csv")],
        env={"DIGITWATCH_PATTERNS": "*.png;*.jpg"},
    )
    assert result.exit_code == 2 and "--patterns" in result.output


# --- --once says when files could not be moved ------------------------------------------------


def test_once_exits_1_when_files_could_not_be_moved(digitwatch_exe, tmp_path, layout, digit):
    inbox, results = layout
    (inbox / "a.png").write_bytes(digit(0))
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the processed folder's parent should be")
    with ServiceProcess(
        digitwatch_exe,
        tmp_path / "once.log",
        "--inbox",
        inbox,
        "--results",
        results,
        "--once",
        "--after",
        "move",
        "--processed-dir",
        blocker / "processed",
    ) as service:
        code = service.wait_exit()
    assert code == 1, service.log()
    assert "1 files could not be moved" in service.log()
    assert list(read_rows(results)["filename"]) == ["a.png"] and (inbox / "a.png").exists()


# --- the log says why a subfolder is not read -------------------------------------------------


def test_a_subfolder_without_recursive_is_logged_once_with_the_hint(digitwatch_exe, tmp_path, layout, digit):
    inbox, results = layout
    (inbox / "old").mkdir()
    (inbox / "old" / "a.png").write_bytes(digit(0))
    (inbox / "b.png").write_bytes(digit(1))
    with ServiceProcess(
        digitwatch_exe, tmp_path / "s.log", "--inbox", inbox, "--results", results, "--rescan-interval", "1"
    ) as service:
        service.wait_ready()
        (inbox / "new").mkdir()
        (inbox / "new" / "c.png").write_bytes(digit(2))
        wait_for(lambda: "ignored new/" in service.log(), timeout=30, what="the new subfolder to be reported")
        threading.Event().wait(2.5)  # two more rescans: the decision is not repeated
        assert service.terminate()[0] == 0
    log = service.log()
    assert log.count("ignored old/: a subfolder: files in subfolders are read only with --recursive") == 1
    assert log.count("ignored new/") == 1
    assert list(read_rows(results)["filename"]) == ["b.png"]


# --- a full disk: exit 1, no partial row, nothing moved without its row, finished exactly once later


def _file_size_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # stands in for a full disk

    return apply


class LimitedService(ServiceProcess):
    """The service with a file-size limit: writes past it fail with EFBIG, as on a full disk."""

    def __init__(self, exe: str, log_path: Path, limit: int, *args: object) -> None:
        import subprocess

        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [exe, "watch", *map(str, args)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            preexec_fn=_file_size_limit(limit),
        )


@pytest.mark.slow
def test_full_disk_stops_with_exit_1_and_a_restart_finishes_exactly_once(digitwatch_exe, tmp_path, layout, digit):
    inbox, results = layout
    names = [f"d{i:03d}.png" for i in range(100)]
    for i, name in enumerate(names[:30]):  # a backlog that fits
        (inbox / name).write_bytes(digit(i))
    processed = tmp_path / "processed"
    # The log goes to a file too, so only errors are logged: the results file reaches the limit first.
    with LimitedService(
        digitwatch_exe,
        tmp_path / "full.log",
        6000,
        "--inbox",
        inbox,
        "--results",
        results,
        "--after",
        "move",
        "--log-level",
        "ERROR",
    ) as service:
        wait_for_rows(results, 30)
        for i, name in enumerate(names[30:], start=30):  # then a stream that does not
            (inbox / name).write_bytes(digit(i))
        code = service.wait_exit(timeout=60)
    assert code == 1, service.log()
    assert "cannot write to" in service.log() and "File too large" in service.log()
    data = results.read_bytes()
    assert data.endswith(b"\r\n")
    recorded = set(read_rows(results)["filename"])
    moved = {path.name for path in processed.iterdir()} if processed.exists() else set()
    assert 0 < len(recorded) < len(names)
    assert moved <= recorded, f"moved without a row: {sorted(moved - recorded)}"
    with ServiceProcess(
        digitwatch_exe, tmp_path / "again.log", "--inbox", inbox, "--results", results, "--after", "move", "--once"
    ) as again:
        assert again.wait_exit() == 0, again.log()
    table = read_rows(results)
    assert sorted(table["filename"]) == names, "a file is missing or counted twice"
    assert not list(inbox.iterdir())


# --- the results file rotated away while running ----------------------------------------------


def test_rotated_results_file_continues_in_a_new_file_after_a_rename_and_after_a_delete(
    digitwatch_exe, tmp_path, layout, digit
):
    """One service sees both rotations, one after the other, as logrotate's two styles would do."""
    inbox, results = layout
    rotated = results.with_name("predictions.csv.1")

    def drop(prefix: str, first: int) -> list[str]:
        names = [f"{prefix}{i}.png" for i in range(10)]
        for i, name in enumerate(names):
            (inbox / name).write_bytes(digit(first + i))
        wait_for_rows(results, 10)
        threading.Event().wait(0.5)  # a negative check: nothing more may arrive
        assert sorted(read_rows(results)["filename"]) == names
        return names

    with ServiceProcess(digitwatch_exe, tmp_path / "r.log", "--inbox", inbox, "--results", results) as service:
        service.wait_ready()
        before = drop("a", 0)
        results.rename(rotated)
        drop("b", 10)
        assert sorted(read_rows(rotated)["filename"]) == before
        results.unlink()
        drop("c", 20)
        assert service.terminate()[0] == 0
    assert service.log().count("rotation?") == 2


# --- a real inotify queue overflow -----------------------------------------------------------


@pytest.mark.slow  # 24,000 inotify events made and lost on purpose: 4-5 s of CPU
def test_a_real_inotify_overflow_triggers_a_rescan_at_once(digitwatch_exe, tmp_path, layout, digit):
    """The service is paused while 24,000 events pile up (the kernel keeps 16,384), then files arrive whose
    events are lost. Only the overflow can make it look: the periodic rescan is an hour away."""
    inbox, results = layout
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    with ServiceProcess(
        digitwatch_exe, tmp_path / "o.log", "--inbox", inbox, "--results", results, "--rescan-interval", "3600"
    ) as service:
        service.wait_ready()
        threading.Event().wait(0.5)
        service.process.send_signal(signal.SIGSTOP)
        try:
            churn = inbox / "churn.tmp"  # an ignored name
            for _ in range(limit // 3 + 1000):  # create, modify, close, delete: about 4 events each
                churn.write_bytes(b"x")
                churn.unlink()
            for i in range(5):
                (inbox / f"lost{i}.png").write_bytes(digit(i))
        finally:
            service.process.send_signal(signal.SIGCONT)
        wait_for_rows(results, 5, timeout=30)
        assert service.terminate()[0] == 0
    assert sorted(read_rows(results)["filename"]) == [f"lost{i}.png" for i in range(5)]
    assert "overflow" in service.log().lower()


# --- a file the service may not read ---------------------------------------------------------


def _without_read_override() -> None:
    """As root, permission bits do not stop reads: drop the capabilities that override them."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.slow
def test_an_unreadable_file_gets_an_error_row_then_a_real_row_once_readable(digitwatch_exe, tmp_path, layout, digit):
    import subprocess

    inbox, results = layout
    (inbox / "ok.png").write_bytes(digit(0))
    locked = inbox / "locked.png"
    locked.write_bytes(digit(1))
    locked.chmod(0o000)
    log_path = tmp_path / "u.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [digitwatch_exe, "watch", "--inbox", str(inbox), "--results", str(results), "--rescan-interval", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_without_read_override,
        )
    try:
        table = wait_for_rows(results, 2)
        row = table[table["filename"] == "locked.png"].iloc[0]
        assert row["status"] == "error" and "Permission denied" in row["detail"] and row["sha256"] == ""
        locked.chmod(0o644)
        table = wait_for_rows(results, 3, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rows = table[table["filename"] == "locked.png"]
    assert list(rows["status"]) == ["error", "ok"] and len(rows.iloc[1]["sha256"]) == 64


def test_a_name_that_is_not_utf8_is_ignored_and_the_rest_is_read(digitwatch_exe, tmp_path, layout, digit):
    inbox, results = layout
    (inbox / "plain.png").write_bytes(digit(0))
    with open(os.path.join(os.fsencode(inbox), b"caf\xe9.png"), "wb") as latin1:  # a Latin-1 name
        latin1.write(digit(1))
    with ServiceProcess(digitwatch_exe, tmp_path / "u.log", "--inbox", inbox, "--results", results, "--once") as svc:
        assert svc.wait_exit() == 0, svc.log()
    assert list(read_rows(results)["filename"]) == ["plain.png"]
    assert "its name is not valid UTF-8" in svc.log()
