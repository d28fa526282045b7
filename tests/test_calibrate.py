"""Calibration measures: the expected calibration error and the floor sampling alone puts under it."""

from __future__ import annotations

import numpy as np
import pytest

from train.calibrate import ece_noise_floor, expected_calibration_error


def test_ece_is_the_gap_between_confidence_and_accuracy():
    confidence = np.full(100, 0.9)
    correct = np.arange(100) < 70  # 70% right at 90% confidence
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.2)


def test_the_floor_is_zero_for_certain_answers_and_shrinks_with_more_of_them():
    assert ece_noise_floor(np.ones(50)) == 0.0  # every draw is right: no sampling gap at all
    rng = np.random.default_rng(0)
    few, many = rng.uniform(0.6, 1.0, 300), rng.uniform(0.6, 1.0, 30_000)
    assert 0.005 < ece_noise_floor(few) < 0.05
    assert ece_noise_floor(many) < ece_noise_floor(few) / 5  # sampling error falls as 1/sqrt(n)


def test_a_calibrated_model_measures_near_its_floor_and_an_overconfident_one_far_above():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.6, 1.0, 400)
    calibrated = rng.random(400) < confidence
    overconfident = rng.random(400) < confidence - 0.1
    floor = ece_noise_floor(confidence)
    assert expected_calibration_error(confidence, calibrated) < 2 * floor
    assert expected_calibration_error(confidence, overconfident) > 2 * floor
