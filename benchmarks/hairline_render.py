"""Digits whose strokes are 1-2 px wide in the file: hairline typefaces and a fine ballpoint.

Two ways a correct reading loses thin strokes, drawn as a scan would show them:

- **Hairline typefaces.** High-contrast serif and script faces (Didot,
  Bodoni, Old Standard, Garamond italic, Palatino, Zapf Chancery) set the
  digit the MNIST digit is labelled with; the glyph is then thinned until its
  hairlines are 1-2 px wide at the size it is drawn (64-240 px tall), while
  its thick strokes keep most of their width. A reading that keeps only the
  thick strokes turns a 6 into "(" and a 0 into "( |".
- **Fine ballpoint.** The MNIST digit itself, scaled up 3-4 times and
  redrawn along its centre line with a 1-px pen.

Pages are light grey (200-255 of 255), with sensor noise up to sigma 8 (of
255) and turned up to 10 degrees either way, then saved as PNG or JPEG, or in
blue ink as an RGB JPEG. Needs scikit-image (`pip install -e '.[bench]'`) and
Debian's font packages in `FONT_PACKAGES`; none of these faces is used in
training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

import scan_render
from scan_render import Rendered, Style

FONT_FILES = {
    "GFS Didot": "/usr/share/fonts/opentype/didot/GFSDidot.otf",
    "GFS Didot italic": "/usr/share/fonts/opentype/didot/GFSDidotItalic.otf",
    "GFS Bodoni": "/usr/share/fonts/opentype/bodoni-classic/GFSBodoniClassic.otf",
    "Old Standard": "/usr/share/fonts/truetype/fonts-oldstandard/OldStandard-Regular.ttf",
    "Old Standard italic": "/usr/share/fonts/truetype/fonts-oldstandard/OldStandard-Italic.ttf",
    "EB Garamond italic": "/usr/share/fonts/opentype/ebgaramond/EBGaramond12-Italic.otf",
    "P052 (Palatino)": "/usr/share/fonts/opentype/urw-base35/P052-Roman.otf",
    "Z003 (chancery script)": "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
}
FONT_PACKAGES = "fonts-gfs-didot fonts-gfs-bodoni-classic fonts-oldstandard fonts-ebgaramond fonts-urw-base35"
HAIRLINE = (1.0, 2.0)  # pixels: width of the thinnest strokes in the file
CENTRE_LEVELS = (0.25, 0.4, 0.55, 0.7)  # ink levels tried, in turn, for a digit's centre line
THINNEST_SHARE = 10  # percentile of the stroke half-widths along the centre line taken as the hairlines'

_PAGE = Style(
    paper="light grey",
    height_px=(64.0, 240.0),
    page_factor=(1.3, 3.0),
    rotation_deg=(0.0, 10.0),
    noise=(0.0, 8.0 / 255.0),
)
CONDITIONS: dict[str, Style] = {
    "hairline typeface, light grey paper, PNG": _PAGE,
    "hairline typeface, light grey paper, JPEG q85-95": replace(_PAGE, format="JPEG", jpeg_quality=(85, 95)),
    "fine ballpoint (1 px at 3-4x), light grey paper, PNG": _PAGE,
    "fine ballpoint, blue ink, RGB JPEG q85-95": replace(
        _PAGE, ink="blue", mode="RGB", format="JPEG", jpeg_quality=(85, 95)
    ),
}


class MissingFontError(RuntimeError):
    """A hairline typeface is not installed."""


def check_fonts() -> None:
    """Raise MissingFontError naming the Debian packages when a face is missing."""
    missing = [name for name, path in FONT_FILES.items() if not Path(path).is_file()]
    if missing:
        raise MissingFontError(
            f"hairline typefaces not installed ({', '.join(missing)}): apt-get install -y {FONT_PACKAGES}"
        )


def hairline_files(digits: np.ndarray, labels: np.ndarray, *, seed: int) -> Iterator[tuple[str, Rendered]]:
    """Yield (condition, file) for each MNIST digit and its label, cycling through CONDITIONS in order."""
    names = list(CONDITIONS)
    for index, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        name = names[index % len(names)]
        rng = scan_render.image_rng(seed, 2, index)
        yield name, render(digit, int(label), name, rng)


def render(digit: np.ndarray, label: int, condition: str, rng: np.random.Generator) -> Rendered:
    """One file in a hairline condition: the label in a typeface, or the digit redrawn with a fine pen."""
    style = CONDITIONS[condition]
    if condition.startswith("hairline typeface"):
        height = scan_render.log_uniform(rng, *style.height_px)
        coverage = typeface_ink(label, height, rng)
        scale = height / scan_render.MNIST_BOX
    else:
        scale = float(rng.uniform(3.0, 4.0))
        coverage = ballpoint_ink(digit, scale)
    layer = scan_render._finish_ink(coverage, style, scale, rng)
    page, layer = scan_render.compose_page(layer, style, rng)
    return scan_render.encode(scan_render.to_image(page, layer, style, rng), style, rng)


def typeface_ink(label: int, height: float, rng: np.random.Generator) -> np.ndarray:
    """The digit `label` in a random hairline face, `height` px tall, its hairlines thinned to 1-2 px."""
    name = list(FONT_FILES)[int(rng.integers(len(FONT_FILES)))]
    glyph = _glyph(name, str(label), round(height))
    inside = glyph > 0.5
    depth = ndimage.distance_transform_edt(inside)
    centre = _centre_line(inside)
    half = float(np.percentile(depth[centre], THINNEST_SHARE))  # the hairlines' half-width
    cut = max(0.0, half - rng.uniform(*HAIRLINE) / 2)
    # Erode by `cut` with a soft edge, and keep the centre line so no stroke vanishes altogether.
    thinned = np.clip(depth - cut + 0.5, 0.0, 1.0) * inside
    return np.maximum(thinned, centre).astype(np.float32)


def ballpoint_ink(digit: np.ndarray, scale: float) -> np.ndarray:
    """A 28x28 MNIST digit scaled up `scale` times and redrawn along its centre line with a 1-px pen.

    The centre line is taken at the lowest ink level that keeps the digit's
    loops: a low level keeps MNIST's faint strokes, but fills a small loop
    (an 8 or a 6 written thick) and turns it into a stroke, so the redrawing
    would no longer be the digit its label says.
    """
    side = round(28 * scale)
    up = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0
    smooth = ndimage.gaussian_filter(up, 0.5 * scale)
    loops = _holes(up > 0.5)
    for level in CENTRE_LEVELS:
        line = _centre_line(smooth > level)
        if _holes(ndimage.binary_dilation(line)) == loops:
            break
    return np.clip(ndimage.gaussian_filter(line.astype(np.float32), 0.4) * 2.5, 0.0, 1.0)  # 1 px, a soft edge


def _holes(ink: np.ndarray) -> int:
    """Regions of paper the ink encloses."""
    _, count = ndimage.label(np.pad(~ink, 1, constant_values=True))
    return count - 1


def _centre_line(inside: np.ndarray) -> np.ndarray:
    from skimage.morphology import skeletonize  # the bench extra; imported on use so the module imports without it

    return np.asarray(skeletonize(inside), dtype=bool)


@lru_cache(maxsize=512)
def _glyph(name: str, char: str, height: int) -> np.ndarray:
    """`char` in face `name`, cropped to its ink and scaled to `height` px tall (coverage 0..1)."""
    size = max(12, round(height / 0.7))  # digits are about 0.7 em tall in these faces
    font = ImageFont.truetype(FONT_FILES[name], size)
    canvas = Image.new("L", (3 * size, 3 * size), 0)
    ImageDraw.Draw(canvas).text((1.5 * size, 1.5 * size), char, fill=255, font=font, anchor="mm")
    ink = np.asarray(canvas, np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.02), np.flatnonzero(ink.max(axis=0) > 0.02)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    scaled = Image.fromarray(ink, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(scaled, np.float32), 0.0, 1.0)
