"""When a file is safe to read: closed by its writer and quiet for the settle time."""

from __future__ import annotations

import time

from service_helpers import wait_for
from watcher.service.stability import OPEN_GRACE, StabilityTracker


def test_fresh_file_waits_for_settle_then_is_ready(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 10)
    tracker = StabilityTracker(settle=0.3, closes_reported=False)
    tracker.nominate(path, "created", now=100.0)
    assert tracker.take_ready(100.1, limit=10) == ([], [])  # an event 0.1 s ago
    assert tracker.take_ready(100.4, limit=10)[0] == []  # first look at size and times
    ready, _ = tracker.take_ready(100.8, limit=10)
    assert [c.path for c in ready] == [path] and len(tracker) == 0


def test_file_moved_into_place_is_ready_at_once(tmp_path):
    """Written as a.png.part and renamed: complete by that convention, so no settle wait."""
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 10)
    tracker = StabilityTracker(settle=0.3, closes_reported=True)
    tracker.nominate(path, "moved", now=100.0)
    assert [c.path for c in tracker.take_ready(100.0, limit=10)[0]] == [path]


def test_file_written_after_its_move_waits_for_settle(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 10)
    tracker = StabilityTracker(settle=0.3, closes_reported=False)
    tracker.nominate(path, "moved", now=100.0)
    tracker.nominate(path, "modified", now=100.01)
    assert tracker.take_ready(100.02, limit=10)[0] == []


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
