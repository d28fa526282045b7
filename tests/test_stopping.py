"""Stopping: a stop request ends the service within seconds at any moment, however long it has run.

The service once hung for ever on SIGTERM: its signal handler logged, and a
log record that took longer than the loop's 50-ms queue wait left CPython's
timed `SimpleQueue.get` waiting with no limit. A slow log sink (a full pipe,
a busy journald) makes that happen every time, so these tests use one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from service_helpers import ServiceProcess, alive, descendants, png_bytes, read_rows, wait_for, wait_for_rows

STOP_SECONDS = 2.0  # the promise: a stop ends the service within 2 s plus the batch in hand

SLOW_LOG_SERVICE = """
import logging, sys, time
from pathlib import Path
from watcher.service import loop as service
from watcher.ops.logs import configure_logging
from watcher.settings import WatchSettings

class SlowSink(logging.Handler):
    def emit(self, record):
        time.sleep(0.2)  # a log sink that takes 0.2 s a record, as a full pipe or a busy journald does

configure_logging("INFO")
logging.getLogger().addHandler(SlowSink())
inbox, results = map(Path, sys.argv[1:3])
service.run(WatchSettings(inbox=inbox, results=results, settle_seconds=0.0, summary_interval_seconds=1.0))
print("exited cleanly", flush=True)
"""


def _slow_log_service(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    inbox, results, log = tmp_path / "inbox", tmp_path / "results.csv", tmp_path / "service.log"
    inbox.mkdir()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SLOW_LOG_SERVICE, str(inbox), str(results)], stdout=sink, stderr=subprocess.STDOUT
        )
    return process, inbox, log


def test_sigterm_stops_an_idle_service_despite_a_slow_log_sink(tmp_path, mnist_small):
    """SIGINT takes the same path (test_watch_cli stops a service with it)."""
    sig = signal.SIGTERM
    process, inbox, log = _slow_log_service(tmp_path)
    try:
        wait_for(lambda: "ready:" in log.read_text(), timeout=90, what="the service to be ready")
        (inbox / "a.png").write_bytes(png_bytes(mnist_small["x_test"][0]))
        wait_for_rows(tmp_path / "results.csv", 1)
        threading.Event().wait(1.5)  # idle a while, with a summary logged every second
        started = time.monotonic()
        process.send_signal(sig)
        code = process.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert code == 0 and "exited cleanly" in text, text
    assert took < STOP_SECONDS + 1.0, f"took {took:.1f} s to stop (slow log sink: 0.2 s a record)"
    assert f"received {signal.Signals(sig).name}" in text


def test_repeated_signals_while_stopping_are_harmless(tmp_path):
    process, _inbox, log = _slow_log_service(tmp_path)
    try:
        wait_for(lambda: "ready:" in log.read_text(), timeout=90, what="the service to be ready")
        threading.Event().wait(0.5)
        for _ in range(5):  # an impatient operator
            process.send_signal(signal.SIGTERM)
            threading.Event().wait(0.01)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, log.read_text()


@pytest.mark.slow
def test_stop_under_load_after_running_a_while_then_restart(digitwatch_exe, tmp_path, mnist_small):
    """Files flow for seconds; SIGTERM lands mid-stream twice; every file ends with exactly one row."""
    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    dropped: list[str] = []
    for cycle in range(2):
        with ServiceProcess(
            digitwatch_exe, tmp_path / f"log{cycle}.txt", "--inbox", inbox, "--results", results, "--settle", "0.05"
        ) as service:
            service.wait_ready()
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # a steady trickle, 25 files a second
                name = f"c{cycle}_{len(dropped):04d}.png"
                (inbox / name).write_bytes(png_bytes(mnist_small["x_test"][len(dropped) % 1000]))
                dropped.append(name)
                threading.Event().wait(0.04)
            code, took = service.terminate()
            assert code == 0 and took < STOP_SECONDS + 1.0, f"exit {code} after {took:.1f} s:\n{service.log()}"
    with ServiceProcess(
        digitwatch_exe, tmp_path / "log_final.txt", "--inbox", inbox, "--results", results, "--once"
    ) as final:
        assert final.wait_exit() == 0, final.log()
    table = read_rows(results)
    assert sorted(table["filename"]) == sorted(dropped), "a file is missing or counted twice"


def test_kill_9_leaves_no_process_behind(digitwatch_exe, tmp_path, mnist_small):
    """The decode workers, the forkserver and the resource tracker all exit within 2 s of the service."""
    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    for i in range(64):  # a backlog large enough for the decode workers
        (inbox / f"d{i:02d}.png").write_bytes(png_bytes(mnist_small["x_test"][i]))
    with ServiceProcess(digitwatch_exe, tmp_path / "log.txt", "--inbox", inbox, "--results", results) as service:
        service.wait_ready()
        wait_for_rows(results, 64)
        children = descendants(service.process.pid)
        assert len(children) >= 3, f"expected decode workers, forkserver and tracker; found {children}"
        service.kill()
        wait_for(
            lambda: not any(alive(pid) for pid in children),
            timeout=2.0,
            what=f"processes {sorted(pid for pid in children if alive(pid))} to exit after kill -9",
        )


def test_a_running_service_reports_to_systemd_status_and_prometheus(digitwatch_exe, tmp_path, mnist_small):
    """READY=1, WATCHDOG=1 and STOPPING=1 on a real notify socket; `digitwatch status`; a real scrape."""
    import socket
    import urllib.request

    from telemetry_helpers import NotifyReceiver

    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = NotifyReceiver(str(tmp_path / "notify.sock"))
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    try:
        with ServiceProcess(
            digitwatch_exe,
            tmp_path / "log.txt",
            "--inbox",
            inbox,
            "--results",
            results,
            "--metrics-port",
            port,
            env=env,
        ) as service:
            assert "READY=1" in receiver.receive(timeout=90)
            for i in range(3):
                (inbox / f"d{i}.png").write_bytes(png_bytes(mnist_small["x_test"][i]))
            wait_for_rows(results, 3)
            assert "WATCHDOG=1" in receiver.receive(timeout=5)
            status = subprocess.run(
                [digitwatch_exe, "status", "--results", str(results)], capture_output=True, text=True, timeout=60
            )
            assert status.returncode == 0, status.stdout + status.stderr
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            ok_rows = next(line for line in page.splitlines() if line.startswith('digitwatch_rows_total{status="ok"}'))
            assert float(ok_rows.split()[-1]) >= 2, page
            assert service.terminate()[0] == 0
            messages = ""
            while "STOPPING=1" not in messages:
                messages += receiver.receive(timeout=5)
        after = subprocess.run(
            [digitwatch_exe, "status", "--results", str(results)], capture_output=True, text=True, timeout=60
        )
        assert after.returncode == 1 and "stopped" in (after.stdout + after.stderr).lower()
    finally:
        receiver.close()
