"""Which files are ours to read, and the inbox layout rules."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from watcher.errors import ServiceError
from watcher.pipeline.eligibility import why_ignored
from watcher.results.csv_file import check_results_header
from watcher.results.store import ResultsError
from watcher.service.inbox import check_layout
from watcher.settings import IMAGE_PATTERNS, WatchSettings


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
    assert reason in why_ignored(PurePosixPath(name), patterns=IMAGE_PATTERNS).why


def test_extra_ignore_patterns_and_custom_image_patterns():
    assert "ignored" in why_ignored(PurePosixPath("draft_1.png"), patterns=IMAGE_PATTERNS, ignore=("draft_*",)).why
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
