"""The watch service in-process: `service.run` with a real observer on real files, stopped by an event.

The subprocess tests (test_watch_cli.py) run the installed console script;
these run the library with a real observer on real files, stopped through the
injectable stop event, so they are fast and can look inside.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from service_helpers import png_bytes, read_rows, wait_for, wait_for_rows
from watcher.service import loop as service
from watcher.service.stability import OPEN_GRACE, StabilityTracker
from watcher.settings import WatchSettings


@pytest.fixture(scope="module")
def classifier(served_model_path):
    from watcher.model.classifier import Classifier

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


def test_a_file_moved_in_whole_that_cannot_be_read_gets_its_row_without_retries(tmp_path, classifier, caplog):
    # Waiting cannot change a file moved into place (or closed by its writer): its error row comes at once,
    # instead of after three "may still be growing" retries. A file over a limit never waits either.
    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=0.1)
    with caplog.at_level(logging.INFO), RunningService(settings, classifier):
        wait_for(lambda: "ready:" in caplog.text, timeout=30, what="the service to start")
        staged = tmp_path / "not-an-image.png"
        staged.write_bytes(b"these bytes are no image at all" * 10)
        os.rename(staged, inbox / "not-an-image.png")
        table = wait_for_rows(results, 1)
    assert list(table["status"]) == ["error"]
    assert "retrying not-an-image.png" not in caplog.text


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
    from watcher.service.observing import HintHandler

    for hook in ("on_created", "on_moved", "on_modified", "on_closed"):
        monkeypatch.setattr(HintHandler, hook, lambda self, event: None)


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


def test_file_renamed_into_place_is_read_without_the_settle_wait(tmp_path, classifier, mnist_small, caplog):
    """Written as x.png.part then renamed, as rsync and browsers do: complete, so its row comes at once."""
    inbox, results = tmp_path / "inbox", tmp_path / "r.csv"
    inbox.mkdir()
    settings = WatchSettings(inbox=inbox, results=results, settle_seconds=5.0)
    with caplog.at_level(logging.INFO), RunningService(settings, classifier):
        wait_for(lambda: "ready:" in caplog.text, timeout=10, what="the service to watch")  # logged once observing
        partial = inbox / "renamed.png.part"
        partial.write_bytes(png_bytes(mnist_small["x_test"][1]))
        started = time.monotonic()
        os.rename(partial, inbox / "renamed.png")
        rows = wait_for_rows(results, 1)
        took = time.monotonic() - started
    assert took < settings.settle_seconds / 2, took
    assert rows["filename"].tolist() == ["renamed.png"]


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
