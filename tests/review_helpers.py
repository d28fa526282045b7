"""A results file and an inbox of real digit images for the review page's tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image

from service_helpers import ServiceProcess, wait_for
from watcher.classifier import Prediction
from watcher.protocol import Status
from watcher.results import ResultRow
from watcher.results_file import ResultsFile

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"


def review_folder(root: Path, digits: np.ndarray, labels: np.ndarray, *, count: int) -> tuple[Path, Path]:
    """An inbox of `count` digit PNGs (dark ink on white, as scanned) and a results CSV where each is
    `uncertain`, the model's digit the true one for even files and one off for odd ones; also one
    blank page with a hostile name. Returns (inbox, results)."""
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
    with ResultsFile(results) as writer:
        writer.append(rows)
    return inbox, results


def _row(path: Path, prediction: Prediction) -> ResultRow:
    return ResultRow(
        filename=path.name,
        prediction=prediction,
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
