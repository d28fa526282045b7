"""Render strings of MNIST digits as the form fields users scan: a number written in one box.

Each digit of the string is drawn as `scan_render` draws a single digit (same
pen edges, rotation and blur), all at one height with a little size and
baseline jitter, side by side with a gap drawn per pair from overlapping
(-3 MNIST pixels, so strokes touch or cross) to wide. The row of ink is then
laid on paper, lit, noised and saved by `scan_render`'s own steps in one of its
named conditions. Every random draw comes from the Generator passed in, so a
seed gives byte-identical files. Nothing here imports the product.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from scan_render import (
    CONDITIONS,
    MNIST_BOX,
    Rendered,
    Style,
    _finish_ink,
    compose_page,
    encode,
    image_rng,
    log_uniform,
    pen_coverage,
    to_image,
)

GAP_MNIST_PX = (-3.0, 8.0)  # between two digits' inked boxes, in MNIST pixels: overlapping to wide
SIZE_JITTER = (0.85, 1.15)  # each digit's height against the string's
BASELINE_JITTER = 0.12  # of the height: how far a digit's foot wanders up or down
STRING_STREAM = 7  # image_rng stream for number files (scan_render uses 0 and 1)


@dataclass(frozen=True)
class NumberSample:
    """One rendered field: its file and the digits written in it."""

    name: str
    text: str
    condition: str
    rendered: Rendered


def number_ink(digits: list[np.ndarray], style: Style, rng: np.random.Generator) -> np.ndarray:
    """28x28 uint8 MNIST digits (white on black) as one row of pen ink (coverage 0..1) at the style's height."""
    height = log_uniform(rng, *style.height_px)
    scale = height / MNIST_BOX
    upright = replace(style, rotation_deg=(0.0, min(style.rotation_deg[1], 3.0)))  # the field turns, not each digit
    pieces = [_digit_ink(digit, upright, scale * rng.uniform(*SIZE_JITTER), rng) for digit in digits]
    tallest = max(piece.shape[0] for piece in pieces)
    wander = round(BASELINE_JITTER * height)
    gaps = [round(rng.uniform(*GAP_MNIST_PX) * scale) for _ in pieces[1:]]
    width = sum(piece.shape[1] for piece in pieces) + sum(gaps) + 2 * abs(min([0, *gaps]))
    row = np.zeros((tallest + 2 * wander + 2, max(width, 1) + 2), np.float32)
    left = 1 + abs(min([0, *gaps]))
    for index, piece in enumerate(pieces):
        top = 1 + wander + (tallest - piece.shape[0]) + int(rng.integers(-wander, wander + 1))
        area = row[top : top + piece.shape[0], left : left + piece.shape[1]]
        np.maximum(area, piece[: area.shape[0], : area.shape[1]], out=area)  # crossing strokes stay ink
        left += piece.shape[1] + (gaps[index] if index < len(gaps) else 0)
    return _finish_ink(row, replace(style, blur=(0.0, 0.0)), 1.0, rng)  # the whole field's slant


def _digit_ink(digit: np.ndarray, style: Style, scale: float, rng: np.random.Generator) -> np.ndarray:
    return _finish_ink(pen_coverage(digit, scale, rng), style, scale, rng)


def render_number_file(digits: list[np.ndarray], condition: str, rng: np.random.Generator) -> Rendered:
    """MNIST digits as the bytes of one image file of the written number, in the named scan condition."""
    style = replace(CONDITIONS[condition], page_factor=(1.05, 1.6))  # a field: the box is not much larger
    page, layer = compose_page(number_ink(digits, style, rng), style, rng)
    return encode(to_image(page, layer, style, rng), style, rng)


def number_samples(
    images: np.ndarray, labels: np.ndarray, *, lengths: range, per_length: int, conditions: list[str], seed: int
) -> Iterator[NumberSample]:
    """`per_length` strings of each length, digits drawn from `images`, the conditions taken in turn.

    About one string in five starts with a zero, as student and order numbers do.
    """
    pick = np.random.default_rng([seed, STRING_STREAM])
    zeros = np.flatnonzero(labels == 0)
    index = 0
    for length in lengths:
        for _ in range(per_length):
            chosen = pick.choice(len(images), size=length, replace=False)
            if length > 1 and pick.random() < 0.2:
                chosen[0] = pick.choice(zeros)
            condition = conditions[index % len(conditions)]
            rng = image_rng(seed, STRING_STREAM, index)
            rendered = render_number_file([images[i] for i in chosen], condition, rng)
            text = "".join(str(int(labels[i])) for i in chosen)
            yield NumberSample(f"number_{index:05d}{rendered.suffix}", text, condition, rendered)
            index += 1
