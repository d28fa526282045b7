"""Make `confidence` mean what it says: temperature scaling and its measurement."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15
# At most 0.6% of validation digits may fall under the threshold: scanned and photographed digits fall
# under it about 1.4 times as often as MNIST's own (docs/model.md, "The shipped model"), and at most 1% should.
MAX_FLAGGED_SHARE = 0.006


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Return the temperature T that minimises the negative log-likelihood of softmax(logits / T)."""

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        return float(-log_softmax(scaled, axis=1)[np.arange(len(labels)), labels].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of logits divided by the temperature."""
    return np.asarray(softmax(logits / temperature, axis=1))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(error)


def ece_noise_floor(confidence: np.ndarray, *, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model would still show on these confidences, from sampling alone.

    Each answer is drawn right with probability equal to its confidence,
    `draws` times; the mean ECE of those draws is the floor. On a few hundred
    digits it is a sizeable part of a percent, so a measured ECE near it says
    nothing about miscalibration, and one well above it does.
    """
    rng = np.random.default_rng(seed)
    return float(np.mean([expected_calibration_error(confidence, rng.random(len(confidence)) < confidence)
                          for _ in range(draws)]))  # fmt: skip


def choose_threshold(confidence: np.ndarray, *, max_flagged: float = MAX_FLAGGED_SHARE) -> float:
    """Largest threshold (0.50-0.99) under which no more than `max_flagged` of digits fall.

    Raising it flags more real digits as `uncertain`; lowering it lets more
    non-digits and misread digits through as `ok`.
    """
    for threshold in np.arange(0.99, 0.495, -0.01):
        if (confidence < threshold).mean() <= max_flagged:
            return round(float(threshold), 2)
    return 0.5
