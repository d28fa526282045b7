"""`digitwatch status` against status files written here: as a library, the installed script, and CliRunner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from telemetry_helpers import seconds_ago, write_status
from watcher.cli import app
from watcher.ops.status import Health, StatusError, check_status, pid_alive
from watcher.ops.telemetry import Telemetry
from watcher.protocol import ServiceState

TIMEOUT = 60  # seconds for one run of the console script (it imports no model: well under one)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No DIGITWATCH_RESULTS from the caller's shell."""
    monkeypatch.delenv("DIGITWATCH_RESULTS", raising=False)
    yield  # conftest's autouse fixture checks that nothing is left running


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped: no process has it now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results" / "predictions.csv"


# Each case: what to write in the status file, the verdict, the exit code, words the output must hold.
CASES: dict[str, tuple[dict[str, object], Health, int, list[str]]] = {
    "running": ({}, Health.RUNNING, 0, ["digitwatch running", "seen 3, classified 2, failed 1"]),
    "process_gone": ({"pid": "dead"}, Health.NOT_RUNNING, 1, ["not running", "crashed or was killed", "journalctl"]),
    "stopped": ({"state": ServiceState.STOPPED}, Health.STOPPED, 1, ["stopped", "start it with `digitwatch watch`"]),
    "stale": ({"updated_at": "two minutes ago"}, Health.STALE, 1, ["stale", "may be stuck", "restart it"]),
}


def write_case(results: Path, case: str, dead_pid: int) -> None:
    changes = dict(CASES[case][0])
    if changes.get("pid") == "dead":
        changes["pid"] = dead_pid
    if changes.get("updated_at") == "two minutes ago":
        changes["updated_at"] = seconds_ago(120)  # measured now, not when this module was imported
    write_status(results, **changes)


def run_script(exe: str, *args: object, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DIGITWATCH_RESULTS"}
    env.update({"NO_COLOR": "1", **(env_extra or {})})
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)


@pytest.mark.parametrize("case", CASES)
def test_check_status_judges_each_state(results: Path, dead_pid: int, case: str) -> None:
    write_case(results, case, dead_pid)
    report = check_status(results, stale_after=30)
    assert report.health is CASES[case][1]
    assert report.ok is (report.health is Health.RUNNING)
    assert str(results) in report.summary


def test_check_status_without_a_status_file_raises(results: Path) -> None:
    with pytest.raises(StatusError, match=r"no status file at .*predictions\.csv\.status\.json"):
        check_status(results, stale_after=30)


def test_pid_alive_knows_live_dead_and_group_pids(dead_pid: int) -> None:
    assert pid_alive(os.getpid())
    assert pid_alive(1)  # init: someone else's process unless the tests run as root
    assert not pid_alive(dead_pid)
    assert not pid_alive(0) and not pid_alive(-1)  # process groups to os.kill, never a service's pid


def test_stale_after_sets_how_old_a_heartbeat_may_be(results: Path) -> None:
    write_status(results, updated_at=seconds_ago(10))
    assert check_status(results, stale_after=5).health is Health.STALE
    assert check_status(results, stale_after=60).health is Health.RUNNING


def test_status_of_a_real_telemetry_follows_its_life(tmp_path: Path, results: Path) -> None:
    results.parent.mkdir()
    telemetry = Telemetry(inbox=tmp_path / "inbox", results=results)
    try:
        telemetry.start()
        telemetry.ready()
        assert check_status(results, stale_after=30).health is Health.RUNNING
    finally:
        telemetry.close()
    assert check_status(results, stale_after=30).health is Health.STOPPED


@pytest.mark.parametrize("case", CASES)
def test_installed_script_reports_each_state(digitwatch_exe: str, results: Path, dead_pid: int, case: str) -> None:
    write_case(results, case, dead_pid)
    finished = run_script(digitwatch_exe, "status", "--results", results)
    _, _, code, words = CASES[case]
    assert finished.returncode == code, finished.stdout + finished.stderr
    for word in words:
        assert word in finished.stdout + finished.stderr
    assert ("Error:" in finished.stderr) is (code != 0)


def test_installed_script_without_a_status_file_says_what_to_do(digitwatch_exe: str, results: Path) -> None:
    finished = run_script(digitwatch_exe, "status", "--results", results)
    assert finished.returncode == 1
    assert "Error: no status file at" in finished.stderr
    assert "--results" in finished.stderr and "DIGITWATCH_RESULTS" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_installed_script_reads_digitwatch_results_and_stale_after(digitwatch_exe: str, results: Path) -> None:
    write_status(results, updated_at=seconds_ago(10))
    env = {"DIGITWATCH_RESULTS": str(results)}
    assert run_script(digitwatch_exe, "status", env_extra=env).returncode == 0
    assert run_script(digitwatch_exe, "status", "--stale-after", 5, env_extra=env).returncode == 1


def test_installed_script_defaults_to_results_predictions_csv(digitwatch_exe: str, tmp_path: Path) -> None:
    write_status(tmp_path / "results" / "predictions.csv")
    env = {key: value for key, value in os.environ.items() if key != "DIGITWATCH_RESULTS"}
    finished = subprocess.run(
        [digitwatch_exe, "status"], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=tmp_path, check=False
    )
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize("case", CASES)
def test_cli_runner_reports_each_state(results: Path, dead_pid: int, case: str) -> None:
    write_case(results, case, dead_pid)
    outcome = CliRunner().invoke(app, ["status", "--results", str(results)], env={"NO_COLOR": "1"})
    _, _, code, words = CASES[case]
    assert outcome.exit_code == code, outcome.output
    for word in words:
        assert word in outcome.output


def test_cli_runner_without_a_status_file(results: Path) -> None:
    outcome = CliRunner().invoke(app, ["status", "--results", str(results)], env={"NO_COLOR": "1"})
    assert outcome.exit_code == 1
    assert "no status file at" in outcome.output


def test_help_lists_status_and_its_options() -> None:
    listed = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert "status" in listed.output
    helped = CliRunner().invoke(app, ["status", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert helped.exit_code == 0
    for option in ("--results", "--stale-after", "DIGITWATCH_RESULTS"):
        assert option in helped.output


@pytest.mark.parametrize("value", ["0", "-1", "4.9", "nan", "inf"])
def test_stale_after_a_healthy_service_would_cross_or_never_cross_is_refused(results: Path, value: str) -> None:
    write_case(results, "running", dead_pid=0)  # a running service with a fresh heartbeat
    outcome = CliRunner().invoke(app, ["status", "--results", str(results), "--stale-after", value])
    assert outcome.exit_code == 2, outcome.output
    assert "Invalid value for '--stale-after'" in outcome.output
    assert "stale" not in outcome.output.replace("--stale-after", "")  # refused before judging anything


def test_installed_script_refuses_stale_after_zero_saying_why(digitwatch_exe: str, results: Path) -> None:
    write_case(results, "running", dead_pid=0)
    finished = run_script(digitwatch_exe, "status", "--results", results, "--stale-after", 0)
    assert finished.returncode == 2, finished.stdout + finished.stderr
    message = " ".join(finished.stderr.split())
    assert "0 s is less than the 5 s between two heartbeats of the service" in message
    assert "a healthy service would look stuck; give at least 5" in message
    assert finished.stdout == ""
