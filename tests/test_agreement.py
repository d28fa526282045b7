"""What corrections say of the model: agreement, the confusion matrix, and the spot-check estimate, on known files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from review_helpers import (
    ERROR_CHECKED,
    LOW_CHECKED,
    LOW_WRONG,
    NO_DIGIT_CHECKED,
    NO_DIGIT_WRONG,
    SPOT_CHECKED,
    SPOT_WRONG,
    UNCERTAIN_CHECKED,
    UNCERTAIN_WRONG,
    UNCHECKED,
    write_checked_files,
)
from watcher.protocol import Status
from watcher.report.agreement import Agreement, Tally, agreement, wilson
from watcher.results.corrections import read_corrections
from watcher.results.reader import read_results
from watcher.review.spot import Why


@pytest.fixture
def checks(tmp_path: Path) -> Agreement:
    results, corrections = tmp_path / "predictions.csv", tmp_path / "corrections.csv"
    write_checked_files(results, corrections)
    return agreement(read_results(results), read_corrections(corrections), below=0.9)


def wilson_by_roots(hits: int, size: int, z: float) -> tuple[float, float]:
    """The interval's ends as the p where the observed share is exactly z standard errors from p:
    (hits/size - p)^2 = z^2 p (1 - p) / size, a quadratic in p solved numerically."""
    share = hits / size
    a, b, c = 1 + z * z / size, -(2 * share + z * z / size), share * share
    low, high = sorted(np.roots([a, b, c]).real)
    return float(low), float(high)


def test_the_wrong_but_ok_estimate_counts_spot_checks_only(checks: Agreement) -> None:
    estimate = checks.wrong_but_ok
    assert estimate is not None
    # 200 sure ok rows checked, 3 corrected; the low-confidence ok rows (10 of 30 wrong) are not in the sample.
    assert (estimate.hits, estimate.size) == (SPOT_WRONG, SPOT_CHECKED) == (3, 200)
    assert estimate.rate == 0.015
    from scipy.stats import binomtest  # here: scipy.stats is a second of every test worker's start

    scipys = binomtest(3, 200).proportion_ci(confidence_level=0.95, method="wilson")
    assert (estimate.low, estimate.high) == pytest.approx((scipys.low, scipys.high), abs=1e-9)
    assert (estimate.low, estimate.high) == pytest.approx(wilson_by_roots(3, 200, 1.959963984540054), abs=1e-9)
    assert (round(estimate.low, 4), round(estimate.high, 4)) == (0.0051, 0.0432)  # the formula worked by hand


def test_wilson_interval_at_the_edges() -> None:
    z = 1.959963984540054
    # No wrong row in n: the interval is [0, z^2 / (n + z^2)], about 3/n (the "rule of three").
    assert wilson(0, 200) == pytest.approx((0.0, z * z / (200 + z * z)), abs=1e-12)
    assert wilson(200, 200) == pytest.approx((200 / (200 + z * z), 1.0), abs=1e-12)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # the textbook example of 5 in 10
    with pytest.raises(ValueError):
        wilson(1, 0)


def test_agreement_per_status_and_why_it_was_queued(checks: Agreement) -> None:
    checked = SPOT_CHECKED + LOW_CHECKED + UNCERTAIN_CHECKED + NO_DIGIT_CHECKED + ERROR_CHECKED
    assert (checks.checked, checks.readings) == (checked, checked + UNCHECKED)
    assert checks.groups == {
        (Status.OK, Why.SPOT_CHECK): Tally(SPOT_CHECKED, SPOT_CHECKED - SPOT_WRONG),  # sure-0003's 9 was taken back
        (Status.OK, Why.LOW_CONFIDENCE): Tally(LOW_CHECKED, LOW_CHECKED - LOW_WRONG),
        (Status.UNCERTAIN, Why.STATUS): Tally(UNCERTAIN_CHECKED, UNCERTAIN_CHECKED - UNCERTAIN_WRONG),
        (Status.NO_DIGIT, Why.STATUS): Tally(NO_DIGIT_CHECKED, NO_DIGIT_CHECKED - NO_DIGIT_WRONG),
        (Status.ERROR, Why.STATUS): Tally(ERROR_CHECKED, ERROR_CHECKED),
    }
    assert checks.by_status(Status.OK) == Tally(230, 217)
    assert checks.by_status(Status.OK).share == pytest.approx(217 / 230)


def test_confusion_of_the_model_against_the_person(checks: Agreement) -> None:
    off_diagonal = {
        ("0", "7"): 1,
        ("1", "not_a_digit"): 1,
        ("2", "4"): 1,
        ("5", "6"): LOW_WRONG,
        ("3", "8"): UNCERTAIN_WRONG,
        ("not_a_digit", "7"): NO_DIGIT_WRONG,
    }
    assert {cell: n for cell, n in checks.confusion.items() if cell[0] != cell[1]} == off_diagonal
    assert checks.confusion["not_a_digit", "not_a_digit"] == NO_DIGIT_CHECKED - NO_DIGIT_WRONG + ERROR_CHECKED
    assert checks.confusion["5", "5"] == 20 + 20  # 20 right low-confidence 5s; 20 sure 5s, none wrong
    assert sum(checks.confusion.values()) == checks.checked


def test_no_spot_check_without_checked_sure_rows(tmp_path: Path) -> None:
    results, corrections = tmp_path / "predictions.csv", tmp_path / "corrections.csv"
    write_checked_files(results, corrections)
    none = agreement(read_results(results), [], below=0.9)
    assert (none.checked, none.groups, none.wrong_but_ok) == (0, {}, None)
    # With the threshold at 1.0 every ok row was queued for its confidence: none of them was a spot check.
    assert agreement(read_results(results), read_corrections(corrections), below=1.0).wrong_but_ok is None
    assert math.isclose(
        agreement(read_results(results), read_corrections(corrections), below=0.5).wrong_but_ok.rate,  # type: ignore[union-attr]
        (SPOT_WRONG + LOW_WRONG) / (SPOT_CHECKED + LOW_CHECKED),
    )
