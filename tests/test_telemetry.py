"""Telemetry against real things: a systemd notify socket, a Prometheus scrape over HTTP, the status file."""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from telemetry_helpers import NotifyReceiver, heartbeat
from watcher.ops import sdnotify
from watcher.ops.heartbeat import StatusError, read_heartbeat, status_path_for, write_heartbeat
from watcher.ops.telemetry import Telemetry, TelemetryError
from watcher.protocol import ErrorKind, ServiceState

SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No systemd variables from whatever runs the tests."""
    for name in SYSTEMD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield  # conftest's autouse fixture checks that nothing is left running


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyReceiver]:
    """A real Unix datagram socket in tmp_path, named by NOTIFY_SOCKET as systemd names its own."""
    address = str(tmp_path / "notify.sock")
    assert len(address) < 100, "Unix socket paths are limited to 108 bytes"
    receiver = NotifyReceiver(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    yield receiver
    receiver.close()


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[Telemetry]:
    """A Telemetry for a results CSV in tmp_path, closed after the test."""
    (tmp_path / "results").mkdir()
    made = Telemetry(inbox=tmp_path / "inbox", results=tmp_path / "results" / "predictions.csv")
    yield made
    made.close()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics over real HTTP; returns {(sample name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def tick_for(
    telemetry: Telemetry,
    seconds: float,
    *,
    queue_depth: int = 0,
    counts: Mapping[str, int] | None = None,
    each: Callable[[], object] | None = None,
) -> int:
    """Call tick as the service loop does (about every millisecond) for `seconds`; returns the number of calls."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    calls = 0
    while time.monotonic() < deadline:
        telemetry.tick(queue_depth=queue_depth, counts=counts or {})
        calls += 1
        if each is not None:
            each()
        pause.wait(0.001)
    return calls


# --- sdnotify -------------------------------------------------------------------------------


def test_notify_without_notify_socket_is_a_no_op() -> None:
    assert sdnotify.notify("READY=1") is False


def test_notify_sends_one_datagram_to_a_path_socket(notify_socket: NotifyReceiver) -> None:
    assert sdnotify.notify("READY=1\nSTATUS=hello") is True
    assert notify_socket.receive() == "READY=1\nSTATUS=hello"


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"digitwatch-test-{os.getpid()}-{uuid.uuid4().hex}"
    receiver = NotifyReceiver("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("WATCHDOG=1") is True
        assert receiver.receive() == "WATCHDOG=1"
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "address, words",
    [
        ("{tmp}/nobody-listens.sock", "could not notify"),
        ("@digitwatch-nobody-listens", "could not notify"),
        ("relative.sock", "neither a path nor an abstract socket"),  # sd_notify(3) refuses these too
    ],
)
def test_notify_to_a_broken_socket_returns_false_and_logs_at_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, address: str, words: str
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", address.format(tmp=tmp_path))
    with caplog.at_level(logging.DEBUG, logger="watcher.ops.sdnotify"):
        assert sdnotify.notify("READY=1") is False
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert words in caplog.records[0].getMessage()


def test_notify_never_blocks_on_a_receiver_that_does_not_read(notify_socket: NotifyReceiver) -> None:
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.extend(sdnotify.notify("WATCHDOG=1") for _ in range(500)))
    sender.start()
    sender.join(timeout=5)
    blocked = sender.is_alive()
    notify_socket.close()  # unblocks a sender stuck in sendto, so the test ends either way
    sender.join()
    assert not blocked, "notify blocked on a full notify socket"
    assert results[0] is True and results[-1] is False  # the queue filled and later sends were dropped


@pytest.mark.parametrize(
    "usec, pid, expected",
    [
        (None, None, None),
        ("2000000", None, 2.0),
        ("2000000", "self", 2.0),
        ("2000000", "other", None),
        ("500", None, 0.0005),
        ("0", None, None),
        ("soon", None, None),
        ("2000000", "me", None),
    ],
)
def test_watchdog_interval_reads_systemd_variables(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(pid, pid))
    assert sdnotify.watchdog_interval() == expected


# --- the status file ------------------------------------------------------------------------


def test_status_path_appends_to_the_results_name() -> None:
    assert status_path_for(Path("results/predictions.csv")) == Path("results/predictions.csv.status.json")


def test_heartbeat_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv.status.json"
    beat = heartbeat(tmp_path / "predictions.csv", last_row_at="2024-05-01T10:00:00+00:00", state=ServiceState.STOPPED)
    assert write_heartbeat(path, beat) is True
    assert write_heartbeat(path, beat) is True  # replaces the first
    assert read_heartbeat(path) == beat
    assert json.loads(path.read_text())["state"] == "stopped"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_status_file_honours_the_umask_so_operators_can_read_it(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "predictions.csv.status.json"
        assert write_heartbeat(path, heartbeat(tmp_path / "predictions.csv"))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_failure_returns_false_and_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "not-yet"
    path = folder / "predictions.csv.status.json"
    beat = heartbeat(folder / "predictions.csv")
    with caplog.at_level(logging.DEBUG, logger="watcher.ops.heartbeat"):
        assert write_heartbeat(path, beat) is False  # no folder
        assert write_heartbeat(path, beat) is False
        folder.mkdir()
        assert write_heartbeat(path, beat) is True
        path.unlink()
        path.mkdir()  # os.replace cannot put a file over a folder, not even for root
        assert write_heartbeat(path, beat) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # the first failure, and again after it had recovered
    assert all(str(path) in warning for warning in warnings)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # the temporary file was removed


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv.status.json"
    beat = heartbeat(tmp_path / "predictions.csv", counts={f"count_{i}": i for i in range(300)})
    assert write_heartbeat(path, beat)
    done = threading.Event()
    failures: list[str] = []

    def read_until_done() -> None:
        while not done.is_set():
            try:
                read_heartbeat(path)
            except StatusError as exc:
                failures.append(str(exc))

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        for _ in range(100):
            write_heartbeat(path, beat)
    finally:
        done.set()
        reader.join()
    assert not failures, failures[:3]


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "no status file"),
        (b"\xff\xfe binary", "not JSON"),
        (b"scan_0001.png,7,0.99\n", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"pid": 12}', "'state' missing"),
        ("swap", "'pid' missing or mistyped"),
        ("bool_pid", "'pid' missing or mistyped"),
        ("bad_state", "unknown state"),
        ("bad_count", "counts must be integers"),
    ],
)
def test_read_heartbeat_refuses_missing_and_foreign_files(
    tmp_path: Path, content: bytes | str | None, reason: str
) -> None:
    path = tmp_path / "predictions.csv.status.json"
    data = json.loads(json.dumps(heartbeat(tmp_path / "predictions.csv").__dict__))
    if content == "swap":
        data["pid"] = "1234"
    elif content == "bool_pid":
        data["pid"] = True  # an int to Python, never a pid
    elif content == "bad_state":
        data["state"] = "sleeping"
    elif content == "bad_count":
        data["counts"]["seen"] = True
    if isinstance(content, str):
        content = json.dumps(data).encode()
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StatusError, match=reason) as caught:
        read_heartbeat(path)
    assert str(path) in str(caught.value)


# --- Telemetry: systemd ----------------------------------------------------------------------


def test_ready_watchdog_and_stopping_reach_systemd(
    telemetry: Telemetry, notify_socket: NotifyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")  # ten seconds, read when Telemetry is made
    made = Telemetry(inbox=telemetry.inbox, results=telemetry.results)
    try:
        made.start()
        made.ready()
        ready = notify_socket.receive()
        assert ready.splitlines()[0] == "READY=1"
        assert ready.splitlines()[1] == f"STATUS=watching {made.inbox}, results {made.results}"
        made.tick(queue_depth=0, counts={"seen": 0})
        assert notify_socket.receive() == "WATCHDOG=1"
        made.stopping()
        assert notify_socket.receive() == "STOPPING=1"
    finally:
        made.close()


def test_watchdog_is_petted_at_half_its_interval(
    tmp_path: Path, notify_socket: NotifyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "600000")  # 0.6 s: petted every 0.3 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    made = Telemetry(inbox=tmp_path, results=tmp_path / "predictions.csv", heartbeat_interval=60)
    pets: list[float] = []

    def collect() -> None:
        pets.extend(time.monotonic() for m in notify_socket.pending() if m == "WATCHDOG=1")

    try:
        calls = tick_for(made, 0.75, each=collect)
    finally:
        made.close()
    assert calls > 50
    assert len(pets) == 3, pets  # at 0, 0.3 and 0.6 s, not on each of the calls
    gaps = [later - earlier for earlier, later in itertools.pairwise(pets)]
    assert all(0.25 < gap < 0.45 for gap in gaps), gaps


def test_watchdog_meant_for_another_process_is_not_petted(
    tmp_path: Path, notify_socket: NotifyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    made = Telemetry(inbox=tmp_path, results=tmp_path / "predictions.csv", heartbeat_interval=60)
    try:
        tick_for(made, 0.05)
    finally:
        made.close()
    assert "WATCHDOG=1" not in notify_socket.pending()


# --- Telemetry: the status file ---------------------------------------------------------------


def test_heartbeat_file_is_written_at_ready_then_rate_limited(telemetry: Telemetry) -> None:
    telemetry.heartbeat_interval = 0.2
    telemetry.start()
    telemetry.ready()
    first = read_heartbeat(telemetry.status_path)
    assert first.state is ServiceState.RUNNING and first.pid == os.getpid()
    assert (first.inbox, first.results) == (str(telemetry.inbox), str(telemetry.results))
    telemetry.rows(["ok", "ok", "error"], batch_seconds=0.01)
    seen: set[str] = set()
    counts = {"seen": 5, "classified": 2, "failed": 1, "skipped": 0}
    tick_for(
        telemetry,
        0.7,
        queue_depth=4,
        counts=counts,
        each=lambda: seen.add(read_heartbeat(telemetry.status_path).updated_at),
    )
    assert 3 <= len(seen) <= 5, sorted(seen)  # the write at ready, then one every 0.2 s
    latest = read_heartbeat(telemetry.status_path)
    assert latest.counts == {**counts, "rows_error": 1, "rows_ok": 2}
    assert latest.queue_depth == 4
    assert latest.started_at == first.started_at and latest.last_row_at is not None


def test_close_writes_a_stopped_heartbeat_once(telemetry: Telemetry) -> None:
    telemetry.start()
    telemetry.ready()
    telemetry.close()
    assert read_heartbeat(telemetry.status_path).state is ServiceState.STOPPED
    telemetry.status_path.unlink()
    telemetry.close()
    assert not telemetry.status_path.exists()  # the second close did nothing


def test_a_foreign_file_at_the_status_path_is_left_alone(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry.status_path.write_text("someone else's notes\n")
    with caplog.at_level(logging.WARNING):
        telemetry.start()
        telemetry.ready()
        tick_for(telemetry, 0.02)
        telemetry.close()
    assert telemetry.status_path.read_text() == "someone else's notes\n"
    assert any("leaving it alone" in r.getMessage() for r in caplog.records)


def test_tick_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreadable(dict[str, int]):
        def items(self) -> NoReturn:
            raise RuntimeError("counts went wrong")

    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000")
    made = Telemetry(inbox=tmp_path, results=tmp_path / "missing-folder" / "predictions.csv", heartbeat_interval=0.0)
    try:
        made.tick(queue_depth=1, counts={"seen": 1})  # no socket, no folder: both skipped
        made.tick(queue_depth=1, counts=Unreadable(seen=1))
    finally:
        made.close()


# --- Telemetry: Prometheus -------------------------------------------------------------------


def test_scrape_shows_rows_errors_queue_and_batch_time(telemetry: Telemetry) -> None:
    made = Telemetry(inbox=telemetry.inbox, results=telemetry.results, metrics_port=0)
    try:
        made.start()
        assert made.metrics.port
        made.rows(["ok", "ok", "uncertain", "error"], batch_seconds=0.02)
        made.rows(["ok"], batch_seconds=3.0)
        made.error(ErrorKind.DISPOSE)
        made.tick(queue_depth=7, counts={})
        before_scrape = time.time()
        samples = scrape(made.metrics.port)
    finally:
        made.close()
    assert samples[("digitwatch_rows_total", (("status", "ok"),))] == 3
    assert samples[("digitwatch_rows_total", (("status", "uncertain"),))] == 1
    assert samples[("digitwatch_rows_total", (("status", "error"),))] == 1
    assert samples[("digitwatch_rows_total", (("status", "no_digit"),))] == 0  # there from the start
    assert samples[("digitwatch_errors_total", (("kind", "read"),))] == 1
    assert samples[("digitwatch_errors_total", (("kind", "dispose"),))] == 1
    assert samples[("digitwatch_errors_total", (("kind", "results"),))] == 0
    assert samples[("digitwatch_queue_depth", ())] == 7
    assert samples[("digitwatch_batch_seconds_count", ())] == 2
    assert samples[("digitwatch_batch_seconds_sum", ())] == pytest.approx(3.02)
    assert samples[("digitwatch_batch_seconds_bucket", (("le", "0.001"),))] == 0
    assert samples[("digitwatch_batch_seconds_bucket", (("le", "0.025"),))] == 1
    assert samples[("digitwatch_batch_seconds_bucket", (("le", "30.0"),))] == 2
    assert before_scrape - 5 < samples[("digitwatch_last_row_timestamp_seconds", ())] <= before_scrape


def test_each_telemetry_has_its_own_registry(tmp_path: Path) -> None:
    one = Telemetry(inbox=tmp_path, results=tmp_path / "one.csv")
    two = Telemetry(inbox=tmp_path, results=tmp_path / "two.csv")
    one.rows(["ok"], batch_seconds=0.01)
    try:
        assert one.metrics.registry.get_sample_value("digitwatch_rows_total", {"status": "ok"}) == 1
        assert two.metrics.registry.get_sample_value("digitwatch_rows_total", {"status": "ok"}) == 0
        assert REGISTRY.get_sample_value("digitwatch_rows_total", {"status": "ok"}) is None
    finally:
        one.close()
        two.close()


def test_a_port_in_use_gives_telemetry_error(telemetry: Telemetry) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        made = Telemetry(inbox=telemetry.inbox, results=telemetry.results, metrics_port=port)
        with pytest.raises(TelemetryError, match=f"127.0.0.1:{port}.*--metrics-port"):
            made.start()
        made.close()


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_gives_telemetry_error(telemetry: Telemetry, port: int) -> None:
    made = Telemetry(inbox=telemetry.inbox, results=telemetry.results, metrics_port=port)
    with pytest.raises(TelemetryError, match="--metrics-port"):
        made.start()
    made.close()


def test_close_shuts_the_metrics_server_and_frees_its_port(telemetry: Telemetry) -> None:
    made = Telemetry(inbox=telemetry.inbox, results=telemetry.results, metrics_port=0)
    made.start()
    port = made.metrics.port
    assert port is not None
    assert scrape(port)
    made.close()
    made.close()
    assert made.metrics.port is None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        # As the metrics server binds (SO_REUSEADDR, past the scrape's TIME_WAIT); a listener would still refuse.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)


def test_without_a_port_nothing_is_served(telemetry: Telemetry) -> None:
    before = set(threading.enumerate())
    telemetry.start()
    assert telemetry.metrics.port is None
    assert set(threading.enumerate()) == before
