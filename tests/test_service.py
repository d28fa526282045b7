"""The watch service in-process: eligibility, stability, moves, logs, and `service.run` stopped by an event.

The subprocess tests (test_watch_cli.py) run the installed console script;
these run the library with a real observer on real files, stopped through the
injectable stop event, so they are fast and can look inside.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import PurePosixPath

import pytest

from service_helpers import bomb_png, png_bytes, read_rows, wait_for, wait_for_rows
from watcher import service
from watcher.disposal import move_without_overwriting
from watcher.errors import ServiceError
from watcher.imaging import prepare_file
from watcher.inbox import check_layout, why_ignored
from watcher.logs import JsonLinesFormatter
from watcher.results import ResultsError
from watcher.results_file import check_results_header
from watcher.settings import IMAGE_PATTERNS, WatchSettings
from watcher.stability import OPEN_GRACE, StabilityTracker

# --- eligibility -------------------------------------------------------------


@pytest.mark.parametrize("name", ["scan.png", "SCAN.PNG", "a b, c.jpeg", "sub/deep/x.tif", "数字.webp", "=1.png"])
def test_image_names_are_eligible(name):
    assert why_ignored(PurePosixPath(name), patterns=IMAGE_PATTERNS) is None


@pytest.mark.parametrize(
    "name, reason",
    [
        ("scan.png.part", "temporary"),
        ("scan.png.tmp", "temporary"),
        ("scan.png.crdownload", "temporary"),
        ("~$scan.png", "temporary"),
        (".~lock.scan.png#", "temporary"),
        ("._scan.png", "temporary"),
        (".DS_Store", "temporary"),
        ("Thumbs.db", "temporary"),
        ("desktop.ini", "temporary"),
        (".hidden.png", "hidden file"),
        ("notes.txt", "not an image"),
        (".git/x.png", "hidden or system folder"),
        ("$RECYCLE.BIN/x.png", "hidden or system folder"),
        ("@eaDir/x.png", "hidden or system folder"),
    ],
)
def test_temporary_hidden_and_other_files_are_ignored_with_a_reason(name, reason):
    assert reason in why_ignored(PurePosixPath(name), patterns=IMAGE_PATTERNS)


def test_extra_ignore_patterns_and_custom_image_patterns():
    assert "ignored" in why_ignored(PurePosixPath("draft_1.png"), patterns=IMAGE_PATTERNS, ignore=("draft_*",))
    assert why_ignored(PurePosixPath("x.PNG"), patterns=("*.png",)) is None
    assert why_ignored(PurePosixPath("x.jpg"), patterns=("*.png",)) is not None


@pytest.mark.parametrize("outside", ["results", "processed", "failed"])
def test_outputs_inside_the_inbox_are_refused(tmp_path, outside):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    options = {
        "results": dict(results=inbox / "r.csv"),
        "processed": dict(after="move", processed_dir=inbox / "done"),
        "failed": dict(after="move", failed_dir=inbox),
    }[outside]
    with pytest.raises(ServiceError, match="inside the inbox"):
        check_layout(WatchSettings(inbox=inbox, **{"results": tmp_path / "r.csv", **options}))


def test_missing_inbox_is_refused(tmp_path):
    with pytest.raises(ServiceError, match="not a folder"):
        check_layout(WatchSettings(inbox=tmp_path / "nowhere", results=tmp_path / "r.csv"))


def test_foreign_csv_is_refused_before_anything_touches_it(tmp_path):
    foreign = tmp_path / "sales.csv"
    foreign.write_text("region,amount\nnorth,3\nsouth,4", encoding="utf-8")  # no final newline: would be "repaired"
    with pytest.raises(ResultsError, match="not a digitwatch results file"):
        check_results_header(foreign)
    assert foreign.read_text(encoding="utf-8").endswith("south,4")


# --- stability ---------------------------------------------------------------


def test_fresh_file_waits_for_settle_then_is_ready(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 10)
    tracker = StabilityTracker(settle=0.3, closes_reported=False)
    tracker.nominate(path, "moved", now=100.0)
    assert tracker.take_ready(100.1, limit=10) == ([], [])  # an event 0.1 s ago
    assert tracker.take_ready(100.4, limit=10)[0] == []  # first look at size and times
    ready, _ = tracker.take_ready(100.8, limit=10)
    assert [c.path for c in ready] == [path] and len(tracker) == 0


def test_growing_file_is_not_ready(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    tracker = StabilityTracker(settle=0.2, closes_reported=False)
    tracker.nominate(path, "scan", now=10.0)
    for step in range(1, 6):
        with open(path, "ab") as handle:
            handle.write(b"more")
        assert tracker.take_ready(10.0 + step, limit=10)[0] == []


def test_old_backlog_file_is_ready_at_once(tmp_path):
    path = tmp_path / "old.png"
    path.write_bytes(b"x")
    wait_for(lambda: time.time() - path.stat().st_ctime > 0.2, timeout=5, what="the file to age")
    tracker = StabilityTracker(settle=0.2, closes_reported=False)
    tracker.nominate(path, "scan", now=5.0)
    assert [c.path for c in tracker.take_ready(5.0, limit=10)[0]] == [path]  # no second look needed


def test_file_open_for_writing_waits_for_its_close_event(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    tracker = StabilityTracker(settle=0.1, closes_reported=True)
    tracker.nominate(path, "created", now=0.9)
    tracker.nominate(path, "modified", now=1.0)
    tracker.take_ready(1.2, limit=10)
    assert tracker.take_ready(3.0, limit=10)[0] == []  # quiet, but its writer has not closed it
    tracker.nominate(path, "closed", now=3.0)
    assert len(tracker.take_ready(3.0, limit=10)[0]) == 1  # closed by its writer: no settle wait


def test_file_written_again_after_its_close_waits_for_settle(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    tracker = StabilityTracker(settle=0.1, closes_reported=True)
    tracker.nominate(path, "closed", now=1.0)
    tracker.nominate(path, "modified", now=1.01)
    tracker.nominate(path, "closed", now=1.02)
    tracker.nominate(path, "created", now=1.03)  # e.g. replaced by a rename: no close follows
    assert tracker.take_ready(1.05, limit=10)[0] == []  # the last event was no close: settle applies
    tracker.take_ready(1.2, limit=10)
    assert len(tracker.take_ready(1.4, limit=10)[0]) == 1


def test_lost_close_event_is_covered_by_the_grace_period(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    tracker = StabilityTracker(settle=0.1, closes_reported=True)
    tracker.nominate(path, "modified", now=1.0)
    tracker.take_ready(1.2, limit=10)
    assert tracker.take_ready(1.0 + OPEN_GRACE - 0.1, limit=10)[0] == []
    assert len(tracker.take_ready(1.0 + OPEN_GRACE + 0.1, limit=10)[0]) == 1


def test_vanished_file_is_reported_and_dropped(tmp_path):
    tracker = StabilityTracker(settle=0.0, closes_reported=False)
    tracker.nominate(tmp_path / "gone.png", "created", now=1.0)
    assert tracker.take_ready(2.0, limit=10) == ([], [tmp_path / "gone.png"])
    assert len(tracker) == 0


# --- moves, bombs, logs ------------------------------------------------------


def test_move_never_overwrites(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "x.png").write_bytes(b"old")
    (tmp_path / "done" / "x (1).png").write_bytes(b"older")
    source = tmp_path / "x.png"
    source.write_bytes(b"new")
    target = move_without_overwriting(source, tmp_path / "done" / "x.png")
    assert target.name == "x (2).png" and target.read_bytes() == b"new" and not source.exists()
    assert (tmp_path / "done" / "x.png").read_bytes() == b"old"


def test_move_interrupted_after_link_finishes_without_a_copy(tmp_path):
    source = tmp_path / "x.png"
    source.write_bytes(b"data")
    (tmp_path / "done").mkdir()
    os.link(source, tmp_path / "done" / "x.png")  # a crash came between link and unlink
    target = move_without_overwriting(source, tmp_path / "done" / "x.png")
    assert target.name == "x.png" and not source.exists() and len(list((tmp_path / "done").iterdir())) == 1


def test_900_megapixel_bomb_is_refused_quickly(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1_000_000
    started = time.monotonic()
    prepared = prepare_file(bomb)
    assert time.monotonic() - started < 1.0
    assert prepared.digit is None and "too large" in prepared.error.reason


def test_json_log_lines_carry_decision_fields():
    record = logging.LogRecord("watcher.service", logging.INFO, __file__, 1, "queued %s", ("a.png",), None)
    record.decision, record.file = "queued", "a.png"
    entry = json.loads(JsonLinesFormatter().format(record))
    assert entry["message"] == "queued a.png" and entry["decision"] == "queued" and entry["file"] == "a.png"
    assert entry["level"] == "INFO" and entry["time"].endswith("+00:00")


# --- the service in-process --------------------------------------------------


@pytest.fixture(scope="module")
def classifier(served_model_path):
    from watcher.classifier import Classifier

    return Classifier(served_model_path)


class RunningService:
    """service.run in a thread, stopped through its stop event like the real service on SIGTERM."""

    def __init__(self, settings: WatchSettings, classifier) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(settings, classifier), name="service-under-test")

    def _run(self, settings, classifier) -> None:
        try:
            service.run(settings, stop=self.stop, classifier=classifier)
        except BaseException as exc:  # surfaced in the test thread
            self.error = exc

    def __enter__(self) -> RunningService:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "service did not stop within 10 s of its stop event"
        if self.error is not None:
            raise self.error


def test_backlog_and_live_files_in_process(tmp_path, classifier, mnist_small, caplog):
    inbox, results = tmp_path / "inbox", tmp_path / "out" / "results.csv"
    inbox.mkdir()
    (inbox / "backlog.png").write_bytes(png_bytes(mnist_small["x_test"][0]))
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes(mnist_small["x_test"][1]))
    (inbox / "link-out.png").symlink_to(outside)
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.1)
    with caplog.at_level(logging.INFO), RunningService(settings, classifier):
        wait_for_rows(results, 1)
        (inbox / "live.png.part").write_bytes(png_bytes(mnist_small["x_test"][2]))
        os.rename(inbox / "live.png.part", inbox / "live.png")
        table = wait_for_rows(results, 2)
    assert sorted(table["filename"]) == ["backlog.png", "live.png"]
    assert "ignored link-out.png: symbolic link leading out of the inbox" in caplog.text
    assert "ready:" in caplog.text and "summary: seen 2, classified 2" in caplog.text


def test_second_run_skips_recorded_files_and_records_changed_ones(tmp_path, classifier, mnist_small):
    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    for i in range(3):
        (inbox / f"d{i}.png").write_bytes(png_bytes(mnist_small["x_test"][i]))
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.0, once=True)
    service.run(settings, classifier=classifier)
    assert len(read_rows(results)) == 3
    (inbox / "d1.png").write_bytes(png_bytes(mnist_small["x_test"][7]))
    counts = service.run(settings, classifier=classifier)
    table = read_rows(results)
    assert counts.skipped == 2 and counts.classified == 1
    assert sorted(table["filename"]) == ["d0.png", "d1.png", "d1.png", "d2.png"]
    assert table[table["filename"] == "d1.png"]["sha256"].nunique() == 2


def test_stop_event_ends_the_service_promptly(tmp_path, classifier):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=tmp_path / "r.csv")
    with RunningService(settings, classifier) as running:
        wait_for(lambda: (tmp_path / "r.csv").is_file(), timeout=30, what="the results file")
        started = time.monotonic()
        running.stop.set()
        running.thread.join(timeout=5)
        assert not running.thread.is_alive() and time.monotonic() - started < 5


@pytest.fixture
def deaf_observer(monkeypatch):
    """An observer whose events are all lost, as in a kernel queue overflow or on a share without events."""
    from watcher.observing import HintHandler

    for hook in ("on_created", "on_moved", "on_modified", "on_closed"):
        monkeypatch.setattr(HintHandler, hook, lambda self, event: None)


def test_overflow_report_triggers_a_rescan(tmp_path, classifier, mnist_small, deaf_observer):
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.0, rescan_interval_seconds=3600)
    (inbox / "backlog.png").write_bytes(png_bytes(mnist_small["x_test"][1]))
    with RunningService(settings, classifier):
        wait_for_rows(results, 1)  # the backlog scan is over
        (inbox / "unseen.png").write_bytes(png_bytes(mnist_small["x_test"][0]))
        threading.Event().wait(0.5)  # a negative check: give a wrongly working service time to act
        assert len(read_rows(results)) == 1
        overflow_log = logging.getLogger("watchdog.observers.inotify_c")
        overflow_log.warning("Inotify queue overflowed; filesystem events were lost")
        assert list(wait_for_rows(results, 2)["filename"]) == ["backlog.png", "unseen.png"]


def test_periodic_rescan_finds_files_events_missed(tmp_path, classifier, mnist_small, deaf_observer):
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.0, rescan_interval_seconds=0.5)
    with RunningService(settings, classifier):
        (inbox / "missed.png").write_bytes(png_bytes(mnist_small["x_test"][0]))
        assert list(wait_for_rows(results, 1, timeout=30)["filename"]) == ["missed.png"]


def test_inbox_deleted_and_recreated_is_watched_again(tmp_path, classifier, mnist_small, monkeypatch):
    monkeypatch.setattr(service, "HEALTH_INTERVAL", 0.2)
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.0, rescan_interval_seconds=3600)
    (inbox / "backlog.png").write_bytes(png_bytes(mnist_small["x_test"][1]))
    with RunningService(settings, classifier):
        wait_for_rows(results, 1)  # watching, and the backlog scan is over
        (inbox / "backlog.png").unlink()
        inbox.rmdir()
        inbox.mkdir()  # a share unmounted and mounted again
        (inbox / "after.png").write_bytes(png_bytes(mnist_small["x_test"][0]))  # only a rescan can find it
        assert list(wait_for_rows(results, 2, timeout=30)["filename"]) == ["backlog.png", "after.png"]


def test_file_moved_in_from_outside_is_read_without_waiting_for_a_close(tmp_path, classifier, mnist_small):
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    (inbox / "backlog.png").write_bytes(png_bytes(mnist_small["x_test"][0]))
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png_bytes(mnist_small["x_test"][1]))
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.1)
    with RunningService(settings, classifier):
        wait_for_rows(results, 1)
        started = time.monotonic()
        os.rename(outside, inbox / "moved_in.png")  # `mv` from another folder: no create, no close
        wait_for_rows(results, 2)
        assert time.monotonic() - started < OPEN_GRACE / 2


def test_created_file_without_writes_needs_no_close(tmp_path):
    path = tmp_path / "linked.png"
    path.write_bytes(b"x")
    tracker = StabilityTracker(settle=0.1, closes_reported=True)
    tracker.nominate(path, "created", now=1.0)  # a hard link, or a file inside a folder moved in
    tracker.take_ready(1.2, limit=10)
    assert len(tracker.take_ready(1.4, limit=10)[0]) == 1


def test_recursive_native_events_folder_moved_in_and_made_in_place(tmp_path, classifier, mnist_small):
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    staged = tmp_path / "staged" / "batch"
    staged.mkdir(parents=True)
    for i in range(3):
        (staged / f"s{i}.png").write_bytes(png_bytes(mnist_small["x_test"][i]))
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.1, recursive=True)
    with RunningService(settings, classifier):
        wait_for(lambda: results.is_file(), timeout=30, what="the results file")
        started = time.monotonic()
        os.rename(tmp_path / "staged", inbox / "staged")
        (inbox / "made" / "deep").mkdir(parents=True)
        (inbox / "made" / "deep" / "m.png").write_bytes(png_bytes(mnist_small["x_test"][5]))
        table = wait_for_rows(results, 4)
        assert time.monotonic() - started < OPEN_GRACE / 2
    assert sorted(table["filename"]) == [
        "made/deep/m.png",
        "staged/batch/s0.png",
        "staged/batch/s1.png",
        "staged/batch/s2.png",
    ]
