"""Spot checks on the review page: which sure `ok` rows are drawn into the queue, and that the draw holds."""

from __future__ import annotations

import csv
import hashlib
import re
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from review_helpers import ReviewProcess
from service_helpers import wait_for
from watcher.results.reader import read_results
from watcher.results.schema import COLUMNS
from watcher.review.app import create_app
from watcher.review.queue import QueueFilter, ReviewQueue
from watcher.review.spot import Why, draw, spot_checked
from watcher.settings import ReviewSettings

SURE = 2000  # ok rows at or above the threshold: only a spot check shows them
LOW = 50  # ok rows under the threshold: queued for their confidence anyway
UNCERTAIN = 20
SPOT_ROW = re.compile(r'<tr class="row[^"]* spot" data-filename="([^"]+)"')


def write_results(path: Path) -> None:
    """A results CSV of SURE sure ok rows, LOW low-confidence ok rows and UNCERTAIN uncertain rows."""
    rows = []
    for index in range(SURE + LOW + UNCERTAIN):
        name = f"form-{index:05d}.png"
        status, confidence = "ok", "0.9990"
        if index >= SURE:
            confidence = "0.8000"
        if index >= SURE + LOW:
            status, confidence = "uncertain", "0.5000"
        sha = hashlib.sha256(name.encode()).hexdigest()  # stands for the file's content: only the draw reads it
        rows.append([name, str(index % 10), confidence, status, "2026-12-01T09:00:00.000Z", "", sha, ""])
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "predictions.csv"
    write_results(path)
    return path


def queued(results: Path, percent: float) -> dict[str, Why]:
    """The queue a freshly started review page would show: file name -> why it is there."""
    queue = ReviewQueue(results, results.parent / "corrections.csv")
    queue.refresh()
    return {item.record.filename: item.why for item in queue.items(QueueFilter(spot_check=percent))}


def spot_names(queue: dict[str, Why]) -> set[str]:
    return {name for name, why in queue.items() if why == Why.SPOT_CHECK}


def test_a_spot_check_draws_about_its_share_of_sure_rows_the_same_each_time(results: Path) -> None:
    first = queued(results, 5)
    drawn = spot_names(first)
    # 5% of 2,000 is 100; the draw is fixed by the rows, and 60-140 is four binomial deviations either side.
    assert 60 <= len(drawn) <= 140, len(drawn)
    assert all(int(name[5:10]) < SURE for name in drawn), "only sure ok rows are spot-checked"
    assert len(first) == len(drawn) + LOW + UNCERTAIN  # the rows queued anyway are still there, once each
    assert queued(results, 5) == first  # a restart (a new queue read from the file) draws the same rows
    assert drawn < spot_names(queued(results, 10))  # more spot checks keep the rows drawn before
    assert len(spot_names(queued(results, 100))) == SURE


def test_no_spot_check_by_default_or_at_zero(results: Path) -> None:
    assert queued(results, 0) == {
        **{f"form-{i:05d}.png": Why.LOW_CONFIDENCE for i in range(SURE, SURE + LOW)},
        **{f"form-{i:05d}.png": Why.STATUS for i in range(SURE + LOW, SURE + LOW + UNCERTAIN)},
    }
    assert QueueFilter().spot_check == ReviewSettings().spot_check == 0


def test_the_draw_is_a_fixed_fraction_of_the_row_hash(results: Path) -> None:
    record = read_results(results)[0]
    key = f"{record.filename}\0\0{record.sha256}".encode()
    assert draw(record) == int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    assert spot_checked(record, below=0.9, percent=100 * draw(record) + 1e-9)
    assert not spot_checked(record, below=0.9, percent=100 * draw(record))


def test_the_page_marks_spot_checks_in_the_queue_and_on_the_file_page(results: Path) -> None:
    settings = ReviewSettings(results=results, inbox=results.parent, spot_check=5)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8765") as client:
        wait_for(lambda: client.get("/api/loading").json()["done"], timeout=10, what="the results read")
        page = client.get("/").text
        marked = set(SPOT_ROW.findall(page))
        assert marked == spot_names(queued(results, 5))
        assert page.count('<span class="badge spot"') == len(marked)
        assert 'id="spot-share">· spot check: 5% of ok rows at or above 0.9<' in page
        name = sorted(marked)[0]
        assert '<span class="badge spot">spot check</span>' in client.get("/file", params={"name": name}).text
        unmarked = next(f"form-{i:05d}.png" for i in range(SURE) if f"form-{i:05d}.png" not in marked)
        assert "spot check" not in client.get("/file", params={"name": unmarked}).text


def test_the_installed_page_draws_the_same_rows_after_a_restart(
    tmp_path: Path, results: Path, digitwatch_exe: str
) -> None:
    """`digitwatch review` started twice, the spot check set by its environment variable."""
    runs = []
    for run in range(2):
        args = ("--results", results, "--inbox", tmp_path)
        env = {"DIGITWATCH_SPOT_CHECK": "5"}
        with ReviewProcess(digitwatch_exe, tmp_path / f"review-{run}.log", *args, env=env) as process:
            runs.append(spot_rows_served(process.url))
            assert process.terminate()[0] == 0
    assert 60 <= len(runs[0]) <= 140, len(runs[0])  # 5% of 2,000, as above
    assert runs[0] == runs[1] == spot_names(queued(results, 5))


def spot_rows_served(url: str) -> set[str]:
    """The spot-check rows on the queue page, once the results are read."""
    pages: list[str] = []

    def loaded() -> bool:
        with urllib.request.urlopen(url, timeout=10) as response:
            pages[:] = [response.read().decode("utf-8")]
        return 'id="queue"' in pages[0]

    wait_for(loaded, timeout=30, what="the queue page")
    return set(SPOT_ROW.findall(pages[0]))
