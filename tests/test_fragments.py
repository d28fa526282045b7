"""Thin strokes are read, and a digit read from only part of its ink is never marked ok.

A high-contrast 0 is drawn by hand: thick sides and top and bottom strokes
1-2 px wide, on light grey paper with noise, as a printed hairline typeface
or a fine pen gives. Reading only its thick strokes leaves "( )", which the
model calls something else with full confidence.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fragment_files import page_file, ring_strength
from watcher.model.classifier import Classifier
from watcher.protocol import Status
from watcher.reading.imaging import prepare_file


def read(path: Path) -> tuple[np.ndarray, str | None]:
    (row,) = prepare_file(path)
    assert row.error is None and row.digit is not None, row.error
    return row.digit, row.doubt


def holes(digit: np.ndarray) -> int:
    """Regions of paper the ink encloses in a 28x28 digit: a closed 0 has one, "( )" none."""
    from scipy import ndimage

    paper, count = ndimage.label(digit <= 0.1)  # 4-connected paper: a diagonal step of ink still closes
    outside = set(np.unique(np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]])))
    return len(set(range(1, count + 1)) - outside)


@pytest.mark.parametrize(("hairline", "turn"), [(1.0, 0.0), (1.5, 8.0), (2.0, -10.0)])
def test_hairlines_of_1_to_2_px_survive_grey_noisy_paper(tmp_path, hairline, turn):
    digit, doubt = read(page_file(ring_strength(hairline), tmp_path / "zero.png", turn=turn))
    assert holes(digit) == 1, (digit * 9).round().astype(int)  # the hairlines close the ring
    assert doubt is None


def test_a_hairline_zero_is_read_as_zero_by_the_shipped_model(tmp_path):
    prepared = prepare_file(page_file(ring_strength(1.0), tmp_path / "zero.png", turn=5.0))
    (prediction,) = Classifier().classify_prepared(prepared)
    assert (prediction.status, prediction.digit) == (Status.OK, 0), prediction


def test_a_digit_missing_part_of_its_ink_is_uncertain_and_says_why(tmp_path):
    _, doubt = read(page_file(ring_strength(2.0, faint_top=0.3), tmp_path / "broken.png"))
    assert doubt is not None and doubt.startswith("part of the ink was dropped as noise"), doubt
    prepared = prepare_file(tmp_path / "broken.png")
    (prediction,) = Classifier().classify_prepared(prepared)
    assert prediction.status == Status.UNCERTAIN
    assert "part of the ink was dropped as noise" in prediction.detail


def test_the_installed_command_never_writes_a_fragment_as_ok(tmp_path, digitwatch_exe):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    page_file(ring_strength(2.0, faint_top=0.3), inbox / "broken.png")
    page_file(ring_strength(1.5), inbox / "whole.png", seed=1)
    results = tmp_path / "results.csv"
    done = subprocess.run(
        [digitwatch_exe, "classify", str(inbox), "--results", str(results)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with results.open(newline="", encoding="utf-8") as file:
        rows = {row["filename"]: row for row in csv.DictReader(file)}
    assert rows["broken.png"]["status"] == "uncertain", rows["broken.png"]
    assert "part of the ink was dropped as noise" in rows["broken.png"]["detail"]
    assert (rows["whole.png"]["status"], rows["whole.png"]["digit"]) == ("ok", "0"), rows["whole.png"]


def test_whole_digits_scanned_carry_no_doubt(tmp_path, mnist_small):
    # Real digits on paper, thick or thin, large or small: the fragment rule stays quiet.
    for index, digit in enumerate(mnist_small["x_test"][:40]):
        scale = (2, 5, 9)[index % 3]
        big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC))
        strength = np.clip((big.astype(np.float32) / 255.0 - 0.2) / 0.4, 0.0, 1.0)
        _, doubt = read(page_file(strength, tmp_path / f"{index}.png", seed=index))
        assert doubt is None, (index, doubt)
