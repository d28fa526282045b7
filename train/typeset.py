"""Printed digits: each digit set in the training's own fonts, some with their thin strokes made hairlines.

MNIST holds handwriting only. Printed digits on labels, typed forms and
stamps differ in ways the model never saw: a closed 4, a 1 with a flag and a
foot, a 6 whose loop meets its stem through a hairline. Set in the fonts of
`train/negatives.py` (the letters drawn there are no digits, so the model
learns both sides of the line), at random sizes, weights, slants and turns,
and with a third of them thinned until their thinnest strokes are 1-2 px (as
high-contrast faces are), then read by the service's normaliser. The
benchmarks set digits in other families, which a test keeps apart.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from train.negatives import CANVAS, _default_font, _font, font_files
from watcher.reading import imaging
from watcher.reading.loading import ImageError

HAIRLINE_SHARE = 1 / 3  # of the printed digits: thin strokes made hairlines


def draw_typeset_digits(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` printed digits, normalised (count, 28, 28) float32, and their labels; reproducible by seed."""
    rng = np.random.default_rng([seed, 23])
    images = np.empty((count, 28, 28), dtype=np.float32)
    labels = np.empty(count, dtype=np.int64)
    made = 0
    while made < count:
        digit = int(rng.integers(10))
        page = _set(digit, rng)
        if rng.random() < HAIRLINE_SHARE:
            page = _with_hairlines(page, rng)
        try:
            images[made] = imaging.normalise_array(page)
        except ImageError:
            continue  # the normaliser refuses it: nothing for the model to learn
        labels[made] = digit
        made += 1
    return images, labels


def _set(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One digit in a random training font, size, weight, slant and angle (ink 0..1, white on black)."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    fonts = font_files()
    size = int(rng.integers(48, 80))
    choice = int(rng.integers(len(fonts) + 1))
    font = _font(str(fonts[choice]), size) if choice < len(fonts) else _default_font(size)
    ImageDraw.Draw(image).text(
        (CANVAS / 2, CANVAS / 2), str(digit), fill=255, font=font, anchor="mm",
        stroke_width=int(rng.choice([0, 0, 0, 1, 2])), stroke_fill=255,
    )  # fmt: skip
    shear = float(rng.uniform(-0.25, 0.25))
    image = image.transform(
        image.size, Image.Transform.AFFINE, (1, shear, -shear * CANVAS / 2, 0, 1, 0), Image.Resampling.BILINEAR
    )
    image = image.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _with_hairlines(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ink eroded until its thinnest strokes are 1-2 px wide, keeping the thick ones."""
    inside = page > 0.5
    if not inside.any():
        return page
    depth = ndimage.distance_transform_edt(inside)
    ridge = (depth >= ndimage.maximum_filter(depth, size=3)) & inside  # the strokes' middles
    half = float(np.percentile(depth[ridge], 25))  # the thinner strokes' half-width
    cut = max(0.0, half - float(rng.uniform(1.0, 2.0)) / 2)
    thinned = np.clip(depth - cut + 0.5, 0.0, 1.0)
    return np.asarray(np.maximum(thinned, ridge * 0.8), dtype=np.float32)  # no stroke vanishes altogether
