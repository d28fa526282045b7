"""Calibration measures: the expected calibration error and the floor sampling alone puts under it."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def calibrate() -> ModuleType:
    """train.calibrate, imported when these tests run: it brings scipy.optimize, which at module level
    cost every test worker 0.6 s of CPU at collection."""
    from train import calibrate

    return calibrate


def test_ece_is_the_gap_between_confidence_and_accuracy(calibrate):
    confidence = np.full(100, 0.9)
    correct = np.arange(100) < 70  # 70% right at 90% confidence
    assert calibrate.expected_calibration_error(confidence, correct) == pytest.approx(0.2)


def test_the_floor_is_zero_for_certain_answers_and_shrinks_with_more_of_them(calibrate):
    assert calibrate.ece_noise_floor(np.ones(50)) == 0.0  # every draw is right: no sampling gap at all
    rng = np.random.default_rng(0)
    few, many = rng.uniform(0.6, 1.0, 300), rng.uniform(0.6, 1.0, 30_000)
    assert 0.005 < calibrate.ece_noise_floor(few) < 0.05
    assert calibrate.ece_noise_floor(many) < calibrate.ece_noise_floor(few) / 5  # sampling error falls as 1/sqrt(n)


def test_a_calibrated_model_measures_near_its_floor_and_an_overconfident_one_far_above(calibrate):
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.6, 1.0, 400)
    calibrated = rng.random(400) < confidence
    overconfident = rng.random(400) < confidence - 0.1
    floor = calibrate.ece_noise_floor(confidence)
    assert calibrate.expected_calibration_error(confidence, calibrated) < 2 * floor
    assert calibrate.expected_calibration_error(confidence, overconfident) > 2 * floor
