"""A hand-drawn high-contrast 0 on noisy grey paper, whole or with part of its ink too faint to keep: the
fragment rule's real inputs (tests/test_fragments.py, tests/test_rules.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 200  # pixels: the digit's height in the file
THICK = 18  # pixels: width of the ring's sides
NOISE = 8.0 / 255.0  # sensor noise sigma: the limit


def ring_strength(hairline: float, *, faint_top: float = 1.0) -> np.ndarray:
    """Ink strength (0..1) of a 0 as an ellipse ring, thick at its sides and `hairline` px at top and bottom.

    `faint_top` under 1 draws the ring's upper half that much fainter and cut off from the rest by a gap, as
    a pen running dry leaves it: ink that only a faint line joins, or nothing."""
    height, width = SIDE, int(SIDE * 0.7)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    angle = np.arctan2((ys - cy) / (height / 2), (xs - cx) / (width / 2))
    # The stroke's width follows the angle as a broad pen's does: thick at the sides, a hairline at top and bottom.
    stroke = hairline + (THICK - hairline) * np.abs(np.cos(angle)) ** 3
    radius = np.hypot((ys - cy) / (height / 2 - THICK / 2), (xs - cx) / (width / 2 - THICK / 2))
    outer_gap = (radius - 1.0) * (height / 2 - THICK / 2)  # pixels from the ring's middle line, roughly
    strength = np.clip(stroke / 2 + 0.5 - np.abs(outer_gap), 0.0, 1.0)
    if faint_top < 1.0:
        strength[ys < cy] *= faint_top
        strength[np.abs(ys - cy) < 6] = 0.0
    return strength


def page_file(strength: np.ndarray, path: Path, *, seed: int = 0, turn: float = 0.0) -> Path:
    """The ink laid on light grey paper with sensor noise, turned `turn` degrees, saved as a grey PNG."""
    rng = np.random.default_rng(seed)
    turned = np.asarray(Image.fromarray(strength, mode="F").rotate(turn, Image.Resampling.BICUBIC, expand=True))
    layer = np.zeros((turned.shape[0] + 80, turned.shape[1] + 100), np.float32)
    layer[40 : 40 + turned.shape[0], 50 : 50 + turned.shape[1]] = np.clip(turned, 0.0, 1.0)
    paper = 0.82
    pixels = paper * (1.0 - 0.85 * layer) + NOISE * rng.standard_normal(layer.shape).astype(np.float32)
    Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return path
