"""Training digits redrawn as unusual hands draw them, then read by the service's own normaliser.

A thick marker and a low-resolution raster change a digit before normalisation
(the normaliser crops the thicker ink and scales it back to 20 px), so these
variants are made from MNIST digits on a page-sized canvas and run through
`watcher.reading.imaging.normalise_array`: the model learns exactly the pixels the
service will show it. Drawing and normalising happen once per run, in numpy;
the per-batch augmentation in train/augment.py then warps them like any digit.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from watcher.reading import imaging
from watcher.reading.loading import ImageError

UPSCALE = 4  # the pen is widened on the digit drawn 4x larger, so widths are exact to a quarter pixel
THICK_SHARE = 0.45  # of the variants: thick marker; the rest are low-resolution rasters


def draw_variants(digits: np.ndarray, count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return `count` normalised variants (count, 28, 28) float32 and the indices of the digits they came from."""
    rng = np.random.default_rng([seed, 7])
    sources = rng.choice(len(digits), size=count, replace=len(digits) < count)
    out = np.empty((count, 28, 28), dtype=np.float32)
    kept = np.ones(count, dtype=bool)
    for position, index in enumerate(sources):
        page = thick(digits[index], rng) if rng.random() < THICK_SHARE else low_resolution(digits[index], rng)
        try:
            out[position] = imaging.normalise_array(page)
        except ImageError:
            kept[position] = False  # too degraded for the normaliser: nothing the model will be shown
    return out[kept], sources[kept]


def thick(digit: np.ndarray, rng: np.random.Generator, *, widen: float | None = None) -> np.ndarray:
    """A digit (28x28 uint8, white on black) written with a marker: strokes widened by `widen` px at the
    28-px scale (drawn from 1-3 px when None)."""
    big = _upscaled(digit)
    radius = (rng.uniform(0.5, 1.5) if widen is None else widen / 2) * UPSCALE
    ys, xs = np.mgrid[-int(radius) : int(radius) + 1, -int(radius) : int(radius) + 1]
    pen = xs * xs + ys * ys <= radius * radius
    widened = ndimage.grey_dilation(big, footprint=pen)
    if rng.random() < 0.3:
        widened = ndimage.gaussian_filter(widened, rng.uniform(0.5, 2.0) * UPSCALE / 2)  # a felt tip's soft edge
    return _reduced(widened, rng)


def low_resolution(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit rasterised 7-15 px tall (sometimes to few grey levels, sometimes thick), scaled back up."""
    if rng.random() < 0.25:
        digit = np.clip(_reduced(ndimage.grey_dilation(_upscaled(digit), size=(5, 5)), rng, side=28), 0, 1) * 255
        digit = digit.astype(np.uint8)
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    cols = np.flatnonzero(digit.max(axis=0) > 0)
    box = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255.0
    height = int(rng.integers(7, 16))
    width = max(1, round(box.shape[1] * height / box.shape[0] * rng.uniform(0.85, 1.15)))
    small = np.asarray(Image.fromarray(box, mode="F").resize((width, height), Image.Resampling.BOX), np.float32)
    if rng.random() < 0.4:
        levels = int(rng.integers(2, 18))  # a coarse sensor or a bilevel fax stores few grey levels
        small = np.round(np.clip(small / max(float(small.max()), 1e-6), 0, 1) * (levels - 1)) / (levels - 1)
    factor = rng.uniform(4.0, 12.0)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resample = [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC][int(rng.integers(3))]
    up = np.asarray(Image.fromarray(small, mode="F").resize(size, resample), np.float32)
    return np.pad(np.clip(up, 0, 1), int(max(size) * 0.3))


def _upscaled(digit: np.ndarray) -> np.ndarray:
    side = 28 * UPSCALE
    return np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0


def _reduced(big: np.ndarray, rng: np.random.Generator, side: int | None = None) -> np.ndarray:
    """Back down to a scan-like size with area averaging."""
    side = side or int(rng.integers(40, 113))
    return np.asarray(Image.fromarray(np.clip(big, 0, 1), mode="F").resize((side, side), Image.Resampling.BOX))
