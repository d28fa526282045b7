"""The rejection rules of `watcher.reading.rules`: each is tripped by an input built for it and says so
in its own words, and the benchmarks' table of false rejections has a row for every rule."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fragment_files import page_file, ring_strength
from watcher.protocol import Status
from watcher.reading.imaging import normalise_array, prepare_bytes, prepare_file
from watcher.reading.ink import find_ink_spot
from watcher.reading.loading import ImageError
from watcher.reading.rules import Rule, rule_of

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def white(height: int = 300, width: int = 300) -> np.ndarray:
    return np.ones((height, width), np.float32)


def read(pixels: np.ndarray) -> tuple[str, str]:
    """The status and detail the reading gives a grey page saved as a PNG, read as the service reads it."""
    data = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)).save(data, "PNG")
    (row,) = prepare_bytes(data.getvalue())
    if row.error is not None:
        return row.error.kind, row.error.reason
    return (Status.UNCERTAIN, row.doubt) if row.doubt else (Status.OK, "")


def refused(work: Callable[[], object]) -> tuple[str, str]:
    """The status and detail of the ImageError `work` raises."""
    with pytest.raises(ImageError) as caught:
        work()
    return caught.value.kind, caught.value.reason


def ruled_line() -> np.ndarray:
    page = white(300, 400)
    page[150:152, :] = 0.0  # a thin rule across the page, nothing else
    return page


def margin_line() -> np.ndarray:
    page = white(300, 400)
    page[5:295, 20:24] = 0.2  # a margin line from top to bottom
    return page


def dash() -> np.ndarray:
    page = white()
    page[140:160, 100:200] = 0.1  # five times as wide as high, and far from spanning the page
    return page


def specks() -> np.ndarray:
    page = white()
    for top in range(0, 300, 10):
        for left in range(0, 300, 10):
            page[top : top + 2, left : left + 2] = 0.0  # dust all over: no speck large enough to be a stroke
    return page


def blots() -> np.ndarray:
    page = white()
    for top, left in np.random.default_rng(0).integers(0, 290, size=(30, 2)):
        page[top : top + 6, left : left + 6] = 0.1
    return page


def tiny_digit(digit: np.ndarray) -> np.ndarray:
    """The digit 20 px high on a 1,000-px page: larger than dust, too few pixels to read."""
    ink = np.asarray(Image.fromarray(digit).resize((20, 20), Image.Resampling.BILINEAR), np.float32) / 255
    page = white(1000, 1000)
    page[490:510, 490:510] -= ink
    return page


def fragment(tmp_path: Path) -> tuple[str, str]:
    """A 0 whose upper half is too faint to keep (as a pen running dry leaves it), read from a file."""
    (row,) = prepare_file(page_file(ring_strength(2.0, faint_top=0.3), tmp_path / "broken.png"))
    assert row.digit is not None and row.doubt is not None, row.error
    return Status.UNCERTAIN, row.doubt


# An input for each rule, and what reading it gives. Files are read as the service reads them; the strip
# is an array, as training feeds them, and no file has an image without channels (a guard against bugs).
INPUTS: dict[Rule, Callable[[np.ndarray, Path], tuple[str, str]]] = {
    Rule.BLANK: lambda digit, tmp: read(white()),
    Rule.FEW_PIXELS: lambda digit, tmp: read(np.r_[1.0, 0.0, 1.0][:, None] * np.ones((3, 100), np.float32)),
    Rule.STRIP: lambda digit, tmp: refused(lambda: normalise_array(white(3, 5000))),
    Rule.NO_CHANNELS: lambda digit, tmp: refused(lambda: find_ink_spot(np.zeros((10, 10, 0), np.float32))),
    Rule.ONLY_LINES: lambda digit, tmp: read(ruled_line()),
    Rule.ONLY_FRAMES: lambda digit, tmp: read(margin_line()),
    Rule.SPECKS: lambda digit, tmp: read(specks()),
    Rule.SCATTERED: lambda digit, tmp: read(blots()),
    Rule.WIDE_STROKE: lambda digit, tmp: read(dash()),
    Rule.TOO_SMALL: lambda digit, tmp: read(tiny_digit(digit)),
    Rule.FRAGMENT: lambda digit, tmp: fragment(tmp),
}


def test_every_rule_has_an_input_that_trips_it():
    assert list(INPUTS) == list(Rule), "a rule added to watcher.reading.rules needs an input here"


@pytest.mark.parametrize("rule", list(Rule), ids=[rule.name for rule in Rule])
def test_each_rule_is_tripped_by_its_input_and_says_so_in_its_own_words(rule: Rule, mnist_small, tmp_path):
    status, detail = INPUTS[rule](mnist_small["x_test"][0], tmp_path)
    assert rule_of(detail) is rule, detail
    assert status == rule.status


def test_an_uncertain_rows_reasons_are_told_apart():
    detail = "confidence under 0.90; " + Rule.FRAGMENT.text(kept_share=0.8)
    assert rule_of(detail) is Rule.FRAGMENT
    assert rule_of("confidence under 0.90") is None
    assert rule_of("no digit: only ruled lines or borders") is Rule.ONLY_LINES  # not the longer message's rule


def test_a_rule_that_flags_a_digit_refuses_no_page():
    with pytest.raises(ValueError, match="FRAGMENT"):
        Rule.FRAGMENT.refusal(kept_share=0.5)


def _benchmark_rules():
    spec = importlib.util.spec_from_file_location("rules", BENCHMARKS / "rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_table_has_a_row_for_every_rule():
    values = {"width": 3, "height": 5000, "size": 12, "full_side": 1000, "readable": 20, "kept_share": 0.8}
    details = [rule.text(**values) for rule in Rule] + ["no digit: something new", "confidence under 0.90"]
    statuses = [str(rule.status) for rule in Rule] + ["no_digit", "uncertain"]
    conditions = ["clean"] * len(Rule) + ["clean", "noisy"]
    table = _benchmark_rules().false_rejection_table(
        np.array(conditions), np.array(statuses), np.array(details, dtype=object)
    )
    counts = {line[:36].strip(): int(line[36:44]) for line in table[1:]}
    assert counts == {**{rule.title: 1 for rule in Rule}, "other: no digit: something new": 1}
