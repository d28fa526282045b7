"""Synthetic non-digits (letters, symbols, shapes) that teach the model to say "not sure".

Outlier exposure (Hendrycks et al., 2019): during training these images get a
uniform target over the ten digits, so a letter or a doodle that reaches the
classifier comes out with low confidence and is flagged `uncertain`. They are
drawn with Pillow's own bundled font (Aileron) and simple geometry, so they
need no font files and never touch the fonts the scan benchmark draws from.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from watcher import imaging
from watcher.loading import ImageError

# Letters a writer could not mistake for a digit; I, l, O, S, Z, B, G, b, g, q look like 1 0 5 2 8 6 9.
LETTERS = "ACEFHKLMNPRUVWXYcdefhkmnprtuvwxy"
SYMBOLS = "#%*+@<>="  # no ! / ? $ &: written quickly they pass for 1, 1, 2, 5, 8
CANVAS = 96  # pixels


def render_negatives(count: int, *, seed: int = 0) -> np.ndarray:
    """Return `count` normalised non-digit images (count, 28, 28) float32, reproducible by seed."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, 28, 28), dtype=np.float32)
    made = 0
    while made < count:
        kind = rng.choice(["letter", "letter", "symbol", "shape"])
        image = _draw_text(rng, LETTERS if kind == "letter" else SYMBOLS) if kind != "shape" else _draw_shape(rng)
        try:
            out[made] = imaging.normalise_array(np.asarray(image, dtype=np.float32) / 255.0)
        except ImageError:
            continue  # the normaliser already rejects it: nothing for the model to learn
        made += 1
    return out


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 0)
    return image, ImageDraw.Draw(image)


def _draw_text(rng: np.random.Generator, alphabet: str) -> Image.Image:
    """One character in the bundled font, at a random size, weight, slant and angle."""
    image, draw = _canvas()
    font = _font(int(rng.integers(40, 72)))
    char = alphabet[int(rng.integers(len(alphabet)))]
    draw.text(
        (CANVAS / 2, CANVAS / 2),
        char,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 5)),
        stroke_fill=255,
    )
    shear = float(rng.uniform(-0.3, 0.3))
    image = image.transform(
        image.size, Image.Transform.AFFINE, (1, shear, -shear * CANVAS / 2, 0, 1, 0), Image.Resampling.BILINEAR
    )
    return image.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _draw_shape(rng: np.random.Generator) -> Image.Image:
    """A triangle or square, a star or a cross-hatch: ink that is no digit.

    No circles, hexagons or spirals: those are what a hurried 0 or 6 looks like.
    """
    image, draw = _canvas()
    width = int(rng.integers(3, 9))
    centre, radius = CANVAS / 2, float(rng.uniform(20, 40))
    shape = rng.choice(["polygon", "star", "hatch"])
    if shape == "polygon":
        sides = int(rng.integers(3, 5))
        rotation = float(rng.uniform(0, 90))
        draw.regular_polygon((centre, centre, radius), sides, rotation=rotation, outline=255, width=width)
    elif shape == "star":
        angles = np.linspace(0, 2 * np.pi, 11)[:-1] + rng.uniform(0, np.pi)
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
        points = [(centre + r * np.cos(a), centre + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
        draw.polygon(points, outline=255, width=width)
    else:
        for offset in np.linspace(-radius, radius, int(rng.integers(3, 6))):
            draw.line([(centre + offset, centre - radius), (centre + offset, centre + radius)], fill=255, width=width)
            draw.line([(centre - radius, centre + offset), (centre + radius, centre + offset)], fill=255, width=width)
    return image
