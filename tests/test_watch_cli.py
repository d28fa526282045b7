"""`digitwatch watch` as users run it: the installed console script in a subprocess, a real observer, real files.

Every test polls the results CSV with a deadline and stops the service it
started (SIGTERM, checked for exit code 0 within 5 s, or SIGKILL on failure).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from service_helpers import ServiceProcess, bomb_png, peak_rss_bytes, png_bytes, read_rows, wait_for, wait_for_rows
from watcher.cli import app

STOP_SECONDS = 5.0  # the promise: SIGTERM to exit within this


@pytest.fixture
def digits(mnist_small):
    """Factory: PNG bytes of test digit i (cycling through the 1,000 test digits)."""
    return lambda i: png_bytes(mnist_small["x_test"][i % len(mnist_small["x_test"])])


@pytest.fixture
def layout(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "results").mkdir()  # a --results given must be in a folder that exists
    return inbox, tmp_path / "results" / "predictions.csv"


def start(exe, tmp_path, inbox, results, model, *extra, name="service"):
    return ServiceProcess(
        exe,
        tmp_path / f"{name}.log",
        "--inbox",
        inbox,
        "--results",
        results,
        "--model",
        model,
        "--summary-interval",
        5,
        *extra,
    )


def stop_cleanly(service: ServiceProcess, sig: int = signal.SIGTERM) -> None:
    code, seconds = service.terminate(sig=sig)
    assert code == 0, service.log()
    assert seconds < STOP_SECONDS, f"took {seconds:.1f} s to stop"


def assert_one_row_per_file(results: Path, names: list[str]) -> None:
    table = read_rows(results)
    assert sorted(table["filename"]) == sorted(names)
    assert list(table.columns) == [
        "filename",
        "digit",
        "confidence",
        "status",
        "processed_at",
        "detail",
        "sha256",
        "page",
    ]


@pytest.mark.slow
def test_backlog_live_drops_and_temporary_files(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    for i in range(3):
        (inbox / f"backlog_{i}.png").write_bytes(digits(i))
    ignored = [
        "scan.png.part",
        "scan.png.tmp",
        "scan.png.crdownload",
        "~$scan.png",
        ".~lock.scan.png#",
        "._scan.png",
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        ".hidden.png",
        "notes.txt",
    ]
    for name in ignored:
        (inbox / name).write_bytes(digits(9))
    (inbox / "sub").mkdir()
    (inbox / "sub" / "not_recursive.png").write_bytes(digits(9))
    source = tmp_path / "elsewhere.png"
    source.write_bytes(digits(3))
    with start(digitwatch_exe, tmp_path, inbox, results, served_model_path) as service:
        service.wait_ready()
        wait_for_rows(results, 3)
        shutil.copy(source, inbox / "copied.png")
        (inbox / "renamed.png.part").write_bytes(digits(4))
        os.rename(inbox / "renamed.png.part", inbox / "renamed.png")
        _slow_write(inbox / "slow.png", digits(5), chunks=5, pause=0.4)  # pauses longer than --settle
        wait_for_rows(results, 6)
        wait_for(lambda: "summary:" in service.log(), timeout=30, what="a periodic summary")
        stop_cleanly(service)
    assert_one_row_per_file(results, [f"backlog_{i}.png" for i in range(3)] + ["copied.png", "renamed.png", "slow.png"])
    assert set(read_rows(results)["status"]) <= {"ok", "uncertain", "no_digit"}  # slow.png read whole, not torn
    log = service.log()
    for name in ignored:
        assert f"ignored {name}:" in log
    for word in ("queued backlog_0.png", "classified slow.png", "summary: seen 6, classified 6"):
        assert word in log


def _slow_write(path: Path, data: bytes, *, chunks: int, pause: float) -> None:
    """A scanner writing one file in several chunks with pauses, keeping it open throughout."""
    step = -(-len(data) // chunks)
    gap = threading.Event()
    with open(path, "wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            gap.wait(pause)


@pytest.mark.slow
def test_burst_of_2000_files(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    names = [f"burst_{i:04d}.png" for i in range(2000)]
    with start(digitwatch_exe, tmp_path, inbox, results, served_model_path) as service:
        service.wait_ready()
        for i, name in enumerate(names):
            (inbox / name).write_bytes(digits(i))
        wait_for_rows(results, len(names), timeout=150)
        stop_cleanly(service)
    assert_one_row_per_file(results, names)


@pytest.mark.slow
def test_kill_9_mid_stream_then_restart(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    names = [f"stream_{i:03d}.png" for i in range(300)]
    pause = threading.Event()

    def stream() -> None:  # a steady stream that goes on while the service dies
        for i, name in enumerate(names):
            (inbox / name).write_bytes(digits(i))
            pause.wait(0.01)

    writer = threading.Thread(target=stream, name="stream-writer")
    with start(digitwatch_exe, tmp_path, inbox, results, served_model_path, name="first") as first:
        first.wait_ready()
        writer.start()
        wait_for(lambda: len(read_rows(results)) >= 50, timeout=60, what="the first rows")
        first.kill()  # mid-stream: some files recorded, some read but not recorded, some not yet written
    writer.join(timeout=60)
    recorded_before = len(read_rows(results))
    with open(results, "ab") as handle:
        handle.write(b"stream_torn.png,7,0.99")  # the torn write a kill can leave: half a row, no line end
    (inbox / names[0]).write_bytes(digits(999))  # changed content: a new row for the same name
    with start(digitwatch_exe, tmp_path, inbox, results, served_model_path, name="second") as second:
        second.wait_ready()
        wait_for_rows(results, len(names) + 1, timeout=90)
        stop_cleanly(second)
    table = read_rows(results)
    assert 50 <= recorded_before < len(names)
    assert "stream_torn.png" not in set(table["filename"])
    assert sorted(set(table["filename"])) == names
    counts = table["filename"].value_counts()
    assert counts[names[0]] == 2 and counts.drop(names[0]).max() == 1
    assert table[table["filename"] == names[0]]["sha256"].iloc[-1] == _sha256(digits(999))
    assert results.read_bytes().endswith(b"\r\n")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


HOSTILE_NAMES = [
    '=HYPERLINK("x").png',
    "+1.png",
    "-2.png",
    "@sum.png",
    "\ttab.png",
    'comma, "quote".png',
    "new\nline.png",
    "ünïcödé 数字 ٣ ✍️.png",
]


@pytest.mark.slow
def test_corrupt_and_hostile_files(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    good = digits(0)
    bad = {
        "truncated.png": good[: len(good) // 2],
        "empty.png": b"",
        "text.png": b"just some text\n" * 10,
        "random.jpg": np.random.default_rng(0).bytes(5000),
    }
    for name, data in bad.items():
        (inbox / name).write_bytes(data)
    bomb_png(inbox / "bomb.png")
    for i, name in enumerate(HOSTILE_NAMES):
        (inbox / name).write_bytes(digits(i))
    with start(digitwatch_exe, tmp_path, inbox, results, served_model_path) as service:
        service.wait_ready()
        (inbox / "live_truncated.png").write_bytes(good[:40])
        table = wait_for_rows(results, len(bad) + len(HOSTILE_NAMES) + 2)
        assert peak_rss_bytes(service.process.pid) < 800 * 2**20  # the 900 MB bomb was never decoded
        stop_cleanly(service)
    errors = table[table["status"] == "error"].set_index("filename")["detail"]
    assert sorted(errors.index) == sorted([*bad, "bomb.png", "live_truncated.png"])
    assert "too large" in errors["bomb.png"] and "empty" in errors["empty.png"]
    assert all(errors)  # every error says why
    from watcher.results.schema import unneutralise

    names = [unneutralise(cell) for cell in table["filename"]]
    assert sorted(set(names) & set(HOSTILE_NAMES)) == sorted(HOSTILE_NAMES)
    assert '\'=HYPERLINK("x").png' in set(table["filename"]) and "'\ttab.png" in set(table["filename"])


def test_polling_mode_recursive_and_delete(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    (inbox / "old").mkdir()
    (inbox / "old" / "a.png").write_bytes(digits(0))
    (inbox / ".hidden").mkdir()
    (inbox / ".hidden" / "secret.png").write_bytes(digits(1))
    with start(
        digitwatch_exe, tmp_path, inbox, results, served_model_path, "--poll", 0.5, "--recursive", "--after", "delete"
    ) as service:
        service.wait_ready()
        wait_for_rows(results, 1)
        (inbox / "new" / "deeper").mkdir(parents=True)
        (inbox / "new" / "deeper" / "b.png").write_bytes(digits(2))
        staged = tmp_path / "staged"
        (staged / "c").mkdir(parents=True)
        (staged / "c" / "c.png").write_bytes(digits(3))
        os.rename(staged, inbox / "moved_in")  # a whole folder arrives at once
        wait_for_rows(results, 3)
        wait_for(lambda: not (inbox / "moved_in" / "c" / "c.png").exists(), timeout=30, what="the delete")
        stop_cleanly(service, signal.SIGINT)  # Ctrl-C in a terminal stops it the same way
    assert_one_row_per_file(results, ["old/a.png", "new/deeper/b.png", "moved_in/c/c.png"])
    assert [p.name for p in inbox.rglob("*.png")] == ["secret.png"]
    assert "polling every 0.5 s, recursive" in service.log()


def test_once_with_move_from_environment_and_json_logs(digitwatch_exe, served_model_path, tmp_path, layout, digits):
    inbox, results = layout
    processed, failed = tmp_path / "done", tmp_path / "bad"
    (processed).mkdir()
    (processed / "a.png").write_bytes(b"an earlier a.png, kept")
    (inbox / "a.png").write_bytes(digits(0))
    (inbox / "b.png").write_bytes(digits(1))
    (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    env = {
        "DIGITWATCH_INBOX": str(inbox),
        "DIGITWATCH_RESULTS": str(results),
        "DIGITWATCH_MODEL": str(served_model_path),
        "DIGITWATCH_AFTER": "move",
        "DIGITWATCH_PROCESSED_DIR": str(processed),
        "DIGITWATCH_FAILED_DIR": str(failed),
        "DIGITWATCH_ONCE": "1",
        "DIGITWATCH_LOG_FORMAT": "json",
        "DIGITWATCH_SETTLE": "0",
    }
    with ServiceProcess(digitwatch_exe, tmp_path / "once.log", env=env) as service:
        assert service.wait_exit() == 0, service.log()
    assert_one_row_per_file(results, ["a.png", "b.png", "broken.png"])
    assert sorted(p.name for p in processed.iterdir()) == ["a (1).png", "a.png", "b.png"]
    assert (processed / "a.png").read_bytes() == b"an earlier a.png, kept"
    assert [p.name for p in failed.iterdir()] == ["broken.png"] and not list(inbox.iterdir())
    entries = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    decisions = {(e.get("decision"), e.get("file")) for e in entries}
    assert {("ready", None), ("classified", "a.png"), ("failed", "broken.png"), ("moved", "b.png")} <= decisions


def test_every_option_names_its_environment_variable():
    result = CliRunner().invoke(app, ["watch", "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in (
        "inbox",
        "results",
        "model",
        "patterns",
        "ignore",
        "recursive",
        "poll",
        "settle",
        "rescan-interval",
        "after",
        "processed-dir",
        "failed-dir",
        "once",
        "neutralise-formulas",
        "log-level",
        "log-format",
        "summary-interval",
        "max-pages",
        "read-timeout",
    ):
        assert f"--{option}" in result.output
        assert "DIGITWATCH_" + option.upper().replace("-", "_") in result.output


@pytest.mark.parametrize("where", ["--results", "--processed-dir"])
def test_outputs_inside_the_inbox_are_refused(tmp_path, where):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args = ["watch", "--inbox", str(inbox), "--results", str(tmp_path / "r.csv"), "--after", "move"]
    args += [where, str(inbox / "inside.csv" if where == "--results" else inbox / "done")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "Error:" in result.output and "inside the inbox" in result.output
    assert not (inbox / "inside.csv").exists() and not (inbox / "done").exists()


def test_foreign_results_file_is_refused(tmp_path):
    (tmp_path / "inbox").mkdir()
    foreign = tmp_path / "sales.csv"
    foreign.write_text("region,amount\nnorth,3\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["watch", "--inbox", str(tmp_path / "inbox"), "--results", str(foreign)])
    assert result.exit_code == 1 and "not a digitwatch results file" in result.output
    assert foreign.read_text(encoding="utf-8") == "region,amount\nnorth,3\n"
