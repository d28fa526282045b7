"""What happens after a row: moves that never overwrite; bombs refused quickly; JSON log lines."""

from __future__ import annotations

import json
import logging
import os
import time

from service_helpers import bomb_png
from watcher.ops.logs import JsonLinesFormatter
from watcher.reading.imaging import prepare_file
from watcher.service.disposal import move_without_overwriting


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
    (prepared,) = prepare_file(bomb)
    assert time.monotonic() - started < 1.0
    assert prepared.digit is None and "too large" in prepared.error.reason


def test_json_log_lines_carry_decision_fields():
    record = logging.LogRecord("watcher.service.loop", logging.INFO, __file__, 1, "queued %s", ("a.png",), None)
    record.decision, record.file = "queued", "a.png"
    entry = json.loads(JsonLinesFormatter().format(record))
    assert entry["message"] == "queued a.png" and entry["decision"] == "queued" and entry["file"] == "a.png"
    assert entry["level"] == "INFO" and entry["time"].endswith("Z")  # the one timestamp format, as in the CSV
