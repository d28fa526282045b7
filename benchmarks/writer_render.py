"""Digits by unusual hands and letters in unseen fonts, rendered as scan files (see bench_writers.py).

Conditions:
- thick marker: an MNIST test digit's centre line redrawn with a round pen
  3-5 px wide at the 28-px scale;
- low resolution: the digit rasterised 8-14 px tall, then scaled up to the
  page's size, blocky (nearest neighbour) or smoothed (bicubic);
- unseen writers: the UCI optical digits (scikit-learn's `load_digits`,
  1,797 digits by 43 writers, none of them MNIST's), 8x8 with 17 grey levels,
  scaled up blocky or smoothed;
- digits in font families the training never uses, handwriting and print
  apart, each digit several times at random sizes and turns;
- letters and symbols drawn in those families.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage.morphology import skeletonize

from scan_render import Rendered, Style, compose_page, encode, log_uniform, to_image
from unseen_fonts import FONT_FILES

UPSCALE = 4  # the thick pen is drawn on the digit scaled up 4x, so its width is exact to a quarter pixel
PAGE = Style(height_px=(50, 250), page_factor=(1.2, 2.5))  # a plain scan: white paper, grey PNG

# Every letter and symbol but those a hand draws as a digit: O o D Q (0), I l i j J | ! / ( ) [ ] (1),
# Z z (2), S s (5), b (6), q g (9).
LETTERS = "ABCEFGHKLMNPRTUVWXYacdefhkmnprtuvwxy"
SYMBOLS = "#$%&*+<>=?@"
FONT_DIGIT_COPIES = 6  # renderings of each digit in each font


@dataclass(frozen=True)
class Drawn:
    """One rendered file and what it holds: a digit, or None with the letter or symbol."""

    condition: str
    file: Rendered
    label: int | None
    glyph: str = ""


def thick_marker(digit: np.ndarray, rng: np.random.Generator) -> Rendered:
    """An MNIST digit's centre line drawn again with a round pen 3-5 px wide at the 28-px scale."""
    big = np.asarray(Image.fromarray(digit).resize((28 * UPSCALE,) * 2, Image.Resampling.BICUBIC), np.float32)
    centre_line = skeletonize(big > 110)
    radius = rng.uniform(3.0, 5.0) * UPSCALE / 2
    distance = ndimage.distance_transform_edt(~centre_line)
    coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)
    return _on_page(_cropped(coverage), rng)


def low_resolution(digit: np.ndarray, rng: np.random.Generator, *, blocky: bool) -> Rendered:
    """An MNIST digit rasterised 8-14 px tall, then scaled up to the page's size."""
    box = _cropped(digit.astype(np.float32) / 255.0)
    height = int(rng.integers(8, 15))
    width = max(1, round(box.shape[1] * height / box.shape[0]))
    small = Image.fromarray(box, mode="F").resize((width, height), Image.Resampling.BOX)
    return _scaled_up(np.asarray(small, np.float32), rng, blocky=blocky)


def unseen_writer(digit: np.ndarray, rng: np.random.Generator, *, blocky: bool) -> Rendered:
    """A UCI optical digit (8x8, levels 0-16) scaled up to the page's size."""
    return _scaled_up(digit.astype(np.float32) / 16.0, rng, blocky=blocky)


def letter(font_file: str, glyph: str, rng: np.random.Generator) -> Rendered | None:
    """One letter or symbol in the given font, written on the page like a digit; None if the font lacks it."""
    size = int(rng.integers(60, 120))
    font = ImageFont.truetype(font_file, size)
    drawn = _glyph(font, glyph, size)
    if not drawn.any() or np.array_equal(drawn, _glyph(font, "\uffff", size)):  # blank, or the "no glyph" box
        return None
    turned = Image.fromarray(drawn).rotate(float(rng.uniform(-8, 8)), Image.Resampling.BICUBIC)
    return _on_page(_cropped(np.asarray(turned, np.float32) / 255.0), rng)


def _glyph(font: ImageFont.FreeTypeFont, glyph: str, size: int) -> np.ndarray:
    canvas = Image.new("L", (3 * size, 3 * size), 0)
    ImageDraw.Draw(canvas).text((1.5 * size, 1.5 * size), glyph, fill=255, font=font, anchor="mm")
    return np.asarray(canvas)


def _scaled_up(pixels: np.ndarray, rng: np.random.Generator, *, blocky: bool) -> Rendered:
    """A small raster (coverage 0..1) scaled up so the digit is 50-250 px tall."""
    factor = log_uniform(rng, *PAGE.height_px) / pixels.shape[0]
    size = (max(1, round(pixels.shape[1] * factor)), max(1, round(pixels.shape[0] * factor)))
    resample = Image.Resampling.NEAREST if blocky else Image.Resampling.BICUBIC
    up = np.asarray(Image.fromarray(pixels, mode="F").resize(size, resample), np.float32)
    return _on_page(np.clip(up, 0.0, 1.0), rng, scaled=True)


def _on_page(coverage: np.ndarray, rng: np.random.Generator, *, scaled: bool = False) -> Rendered:
    """Ink coverage laid on white paper (scaled to the page's digit size unless done already), as a grey PNG."""
    if not scaled:
        factor = log_uniform(rng, *PAGE.height_px) / coverage.shape[0]
        size = (max(1, round(coverage.shape[1] * factor)), max(1, round(coverage.shape[0] * factor)))
        coverage = np.asarray(Image.fromarray(coverage, mode="F").resize(size, Image.Resampling.BOX), np.float32)
    page, layer = compose_page(np.clip(coverage, 0.0, 1.0) * rng.uniform(0.85, 1.0), PAGE, rng)
    return encode(to_image(page, layer, PAGE, rng), PAGE, rng)


def _cropped(coverage: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(coverage.max(axis=1) > 0.02)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.02)
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def uci_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI optical recognition digits bundled with scikit-learn: (1797, 8, 8) levels 0-16, labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def missing_fonts() -> list[str]:
    """The benchmark's font files that are not installed."""
    return [path for path in FONT_FILES.values() if not Path(path).is_file()]


def drawn_files(mnist: tuple[np.ndarray, np.ndarray], count: int, *, seed: int) -> Iterator[Drawn]:
    """Every rendering: `count` MNIST test digits shared among the MNIST conditions, all UCI digits, and
    each letter and symbol once per font."""
    images, labels = mnist
    makers = {
        "thick marker, strokes 3-5 px": lambda d, r: thick_marker(d, r),
        "low resolution 8-14 px, blocky": lambda d, r: low_resolution(d, r, blocky=True),
        "low resolution 8-14 px, smoothed": lambda d, r: low_resolution(d, r, blocky=False),
    }
    names = list(makers)
    for index in range(count):
        name = names[index % len(names)]
        rng = np.random.default_rng([seed, 10, index])
        yield Drawn(name, makers[name](images[index], rng), int(labels[index]))
    for family, path in FONT_FILES.items():
        kind = "handwriting" if "(handwriting)" in family or "(chancery" in family else "print"
        for digit in range(10):
            for copy in range(FONT_DIGIT_COPIES):
                rng = np.random.default_rng([seed, 13, digit, copy, len(family)])
                file = letter(path, str(digit), rng)
                if file is not None:
                    yield Drawn(f"digits in unseen {kind} fonts", file, digit)
    uci, uci_labels = uci_digits()
    for index, (digit, label) in enumerate(zip(uci, uci_labels, strict=True)):
        blocky = index % 2 == 0
        name = f"unseen writers (UCI 8x8), {'blocky' if blocky else 'smoothed'}"
        rng = np.random.default_rng([seed, 11, index])
        yield Drawn(name, unseen_writer(digit, rng, blocky=blocky), int(label))
    for family, path in FONT_FILES.items():
        for position, glyph in enumerate(LETTERS + SYMBOLS):
            rng = np.random.default_rng([seed, 12, position, len(family)])
            file = letter(path, glyph, rng)
            if file is not None:
                yield Drawn(family, file, None, glyph)


def contact_png(files: list[Rendered], captions: list[str], *, tile: int = 96) -> bytes:
    """A contact sheet of rendered files with captions, as PNG bytes (for looking at failures)."""
    columns = 8
    rows = max(1, -(-len(files) // columns))
    sheet = Image.new("L", (columns * tile, rows * (tile + 14)), 255)
    draw = ImageDraw.Draw(sheet)
    for index, (file, caption) in enumerate(zip(files, captions, strict=True)):
        image = Image.open(io.BytesIO(file.data)).convert("L")
        image.thumbnail((tile, tile))
        x, y = (index % columns) * tile, (index // columns) * (tile + 14)
        sheet.paste(image, (x, y))
        draw.text((x + 2, y + tile), caption[:16], fill=0)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
