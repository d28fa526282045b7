"""A results file and an inbox of real digit images for the review page's tests."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image

from service_helpers import ServiceProcess, wait_for
from watcher.protocol import Prediction, Status
from watcher.results.corrections import CORRECTION_COLUMNS
from watcher.results.csv_file import CsvStore
from watcher.results.schema import COLUMNS, ResultRow

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"


def review_folder(
    root: Path, digits: np.ndarray, labels: np.ndarray, *, count: int, sure: int = 0
) -> tuple[Path, Path]:
    """An inbox of `count` digit PNGs (dark ink on white, as scanned) and a results CSV where each is
    `uncertain`, the model's digit the true one for even files and one off for odd ones; also one
    blank page with a hostile name, then `sure` more digits read right as `ok` with confidence 0.999
    (named sure-NNN.png). Returns (inbox, results)."""
    inbox, results = root / "inbox", root / "results" / "predictions.csv"
    inbox.mkdir(parents=True)
    rows = []
    for index in range(count):
        path = inbox / f"form-{index:03d}.png"
        Image.fromarray(255 - digits[index]).resize((84, 84)).save(path)
        predicted = int(labels[index]) if index % 2 == 0 else (int(labels[index]) + 1) % 10
        rows.append(_row(path, Prediction(Status.UNCERTAIN, predicted, 0.5 + index % 40 / 100)))
    hostile = inbox / HOSTILE_NAME
    Image.fromarray(np.full((60, 60), 255, np.uint8)).save(hostile)
    rows.append(_row(hostile, Prediction(Status.NO_DIGIT, None, None, "no ink")))
    for index in range(count, count + sure):
        path = inbox / f"sure-{index:03d}.png"
        Image.fromarray(255 - digits[index]).resize((84, 84)).save(path)
        rows.append(_row(path, Prediction(Status.OK, int(labels[index]), 0.999)))
    with CsvStore(results) as writer:
        writer.append(rows)
    return inbox, results


def _row(path: Path, prediction: Prediction) -> ResultRow:
    return ResultRow.of(
        path.name,
        prediction,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        processed_at="2026-12-01T09:00:00.000Z",
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ReviewProcess(ServiceProcess):
    """`digitwatch review` as users run it, on a free port, logging to a file; always stopped on exit."""

    command = "review"

    def __init__(self, exe: str, log_path: Path, *args: object, env: dict[str, str] | None = None) -> None:
        super().__init__(exe, log_path, "--port", "0", *args, env=env)
        found: list[str] = []

        def announced() -> bool:
            found[:] = re.findall(r"Review page: (http://\S+)", self.log())
            return bool(found) or self.process.poll() is not None

        wait_for(announced, timeout=30, what="the review page to listen")
        assert found, f"review exited early:\n{self.log()}"
        self.url = found[0]


# Known counts for the agreement tests: a results CSV and the corrections people made of it.
SPOT_CHECKED, SPOT_WRONG = 200, 3  # sure ok rows checked (a spot check drew them), and those a person corrected
LOW_CHECKED, LOW_WRONG = 30, 10  # ok rows under 0.9 (queued for their confidence), checked
UNCERTAIN_CHECKED, UNCERTAIN_WRONG = 20, 8
NO_DIGIT_CHECKED, NO_DIGIT_WRONG = 5, 1  # one blank-looking page held a faint 7
ERROR_CHECKED = 2  # both unreadable files held no digit either
UNCHECKED = 1000  # sure ok rows nobody looked at


def write_checked_files(results: Path, corrections: Path) -> None:
    """A results CSV and a corrections CSV with the counts above, written with the csv module as a script would."""
    at = "2026-12-01T09:00:00.000Z"
    rows, fixes = [], []

    def add(name: str, digit: int | None, confidence: str, status: str, label: str | None = None) -> None:
        sha = hashlib.sha256(name.encode()).hexdigest()
        rows.append([name, "" if digit is None else str(digit), confidence, status, at, "", sha, ""])
        if label is not None:
            fixes.append([name, "", sha, "" if digit is None else str(digit), label, at, "ann"])

    wrong_sure = {0: "7", 1: "not_a_digit", 2: "4"}  # the sure rows a person corrected: 0->7, 1->none, 2->4
    for i in range(SPOT_CHECKED):
        add(f"sure-{i:04d}.png", i % 10, "0.9990", "ok", wrong_sure.get(i, str(i % 10)))
    for i in range(UNCHECKED):
        add(f"unchecked-{i:04d}.png", i % 10, "0.9990", "ok")
    for i in range(LOW_CHECKED):
        add(f"low-{i:04d}.png", 5, "0.8000", "ok", "6" if i < LOW_WRONG else "5")
    for i in range(UNCERTAIN_CHECKED):
        add(f"uncertain-{i:04d}.png", 3, "0.5000", "uncertain", "8" if i < UNCERTAIN_WRONG else "3")
    for i in range(NO_DIGIT_CHECKED):
        add(f"blank-{i:04d}.png", None, "", "no_digit", "7" if i < NO_DIGIT_WRONG else "not_a_digit")
    for i in range(ERROR_CHECKED):
        add(f"broken-{i:04d}.png", None, "", "error", "not_a_digit")
    # The last correction wins: sure-0003 was first called a 9, then put back to the model's 3.
    fixes.insert(0, ["sure-0003.png", "", hashlib.sha256(b"sure-0003.png").hexdigest(), "3", "9", at, "bob"])
    fixes.append(["gone.png", "", "", "", "1", at, "bob"])  # a file not in these results: no reading to judge
    _write_csv(results, COLUMNS, rows)
    _write_csv(corrections, CORRECTION_COLUMNS, fixes)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
