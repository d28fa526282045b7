"""Synthetic non-digits that teach the model to say "not sure".

Outlier exposure (Hendrycks et al., 2019): during training these images get a
uniform target over the ten digits, so a letter, a doodle or two digits side
by side that reach the classifier come out with low confidence and are flagged
`uncertain`. Letters and symbols are drawn with the fonts in `train/fonts`
(handwriting-style ones among them), the STIX and Computer Modern fonts that
come with matplotlib and Pillow's bundled Aileron. The scan and writer
benchmarks draw their letters with other families (DejaVu, and the Debian
fonts in benchmarks/unseen_fonts.py), so they measure letters never seen.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from watcher.reading import imaging
from watcher.reading.loading import ImageError

# Every letter but those a hand draws as a digit: O o D Q (0), I l i j J (1), Z z (2), S s (5), b (6), q g (9).
LETTERS = "ABCEFGHKLMNPRTUVWXYacdefhkmnprtuvwxy"
SYMBOLS = "#$%&*+<>=?@~"  # no ! / | ( ) [ ]: written quickly they pass for a 1
CANVAS = 96  # pixels
FONT_DIR = Path(__file__).resolve().parent / "fonts"
MATPLOTLIB_FONTS = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmss10.ttf", "cmtt10.ttf")
KINDS = ("letter", "symbol", "shape", "blob", "pair", "scribble")
KIND_WEIGHTS = (0.45, 0.15, 0.08, 0.07, 0.15, 0.10)


def render_negatives(count: int, *, seed: int = 0, digits: np.ndarray | None = None) -> np.ndarray:
    """Return `count` normalised non-digit images (count, 28, 28) float32, reproducible by seed.

    `digits` (N, 28, 28) uint8 MNIST training digits, when given, are paired side by side.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, 28, 28), dtype=np.float32)
    made = 0
    while made < count:
        kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
        if kind == "pair" and digits is None:
            continue
        image = _draw(kind, rng, digits)
        if rng.random() < 0.2:
            image = _coarse(image, rng)
        try:
            out[made] = imaging.normalise_array(np.asarray(image, dtype=np.float32) / 255.0)
        except ImageError:
            continue  # the normaliser already rejects it: nothing for the model to learn
        made += 1
    return out


@cache
def font_files() -> tuple[Path, ...]:
    """The fonts letters are drawn with: this package's and those matplotlib ships (listed once)."""
    import matplotlib

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    ours = sorted(path for path in FONT_DIR.iterdir() if path.suffix in (".ttf", ".otf"))
    return tuple(ours + [bundled / name for name in MATPLOTLIB_FONTS if (bundled / name).is_file()])


def _draw(kind: str, rng: np.random.Generator, digits: np.ndarray | None) -> Image.Image:
    if kind == "letter":
        return _draw_text(rng, LETTERS)
    if kind == "symbol":
        return _draw_text(rng, SYMBOLS)
    if kind == "shape":
        return _draw_shape(rng)
    if kind == "blob":
        return _draw_blob(rng)
    if kind == "pair":
        assert digits is not None
        return _draw_pair(rng, digits)
    return _draw_scribble(rng)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 0)
    return image, ImageDraw.Draw(image)


def _draw_text(rng: np.random.Generator, alphabet: str) -> Image.Image:
    """One character in a random font, at a random size, weight, slant and angle."""
    image, draw = _canvas()
    fonts = font_files()
    size = int(rng.integers(40, 72))
    choice = int(rng.integers(len(fonts) + 1))
    font = _font(str(fonts[choice]), size) if choice < len(fonts) else _default_font(size)
    char = alphabet[int(rng.integers(len(alphabet)))]
    draw.text(
        (CANVAS / 2, CANVAS / 2),
        char,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 4)),
        stroke_fill=255,
    )
    shear = float(rng.uniform(-0.3, 0.3))
    image = image.transform(
        image.size, Image.Transform.AFFINE, (1, shear, -shear * CANVAS / 2, 0, 1, 0), Image.Resampling.BILINEAR
    )
    return image.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@cache
def _default_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
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


def _draw_blob(rng: np.random.Generator) -> Image.Image:
    """A filled block or disc, as wide as it is tall or nearly (a thick 1 is far narrower): a blot or a sticker."""
    image, draw = _canvas()
    half_h = float(rng.uniform(10, 22))  # under half the canvas: the rest must read as the paper
    half_w = half_h * float(rng.uniform(0.65, 1.5))
    box = (CANVAS / 2 - half_w, CANVAS / 2 - half_h, CANVAS / 2 + half_w, CANVAS / 2 + half_h)
    if rng.random() < 0.5:
        draw.ellipse(box, fill=255)
    else:
        draw.rounded_rectangle(box, radius=float(rng.uniform(0, 10)), fill=255)
    return image.rotate(float(rng.uniform(-30, 30)), resample=Image.Resampling.BILINEAR)


def _draw_pair(rng: np.random.Generator, digits: np.ndarray) -> Image.Image:
    """Two digits side by side: a number, not a digit."""
    first, second = (digits[int(rng.integers(len(digits)))] for _ in range(2))
    gap = int(rng.integers(0, 6))
    drop = int(rng.integers(-3, 4))
    canvas = np.zeros((40, 56 + gap), dtype=np.uint8)
    canvas[6 : 6 + 28, :28] = first
    canvas[6 + drop : 6 + drop + 28, 28 + gap :] = np.maximum(canvas[6 + drop : 6 + drop + 28, 28 + gap :], second)
    image = Image.fromarray(canvas)
    return image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR)


def _draw_scribble(rng: np.random.Generator) -> Image.Image:
    """A zigzag or a cross: strokes with several sharp turns, as no digit has."""
    image, draw = _canvas()
    width = int(rng.integers(3, 9))
    if rng.random() < 0.3:
        arm = float(rng.uniform(20, 40))
        angle = float(rng.uniform(0, np.pi / 2))
        for turn in (angle, angle + np.pi / 2):
            dx, dy = arm * np.cos(turn), arm * np.sin(turn)
            draw.line([(48 - dx, 48 - dy), (48 + dx, 48 + dy)], fill=255, width=width)
        return image
    turns = int(rng.integers(4, 8))
    xs = np.linspace(10, 86, turns)
    ys = np.where(np.arange(turns) % 2 == 0, rng.uniform(15, 35, turns), rng.uniform(60, 85, turns))
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255, width=width, joint="curve")
    return image.rotate(float(rng.choice([0.0, 90.0])) + float(rng.uniform(-20, 20)), Image.Resampling.BILINEAR)


def _coarse(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The same ink as a low-resolution raster scaled back up, as unusual writers' digits are shown."""
    side = int(rng.integers(10, 20))
    small = image.resize((side, side), Image.Resampling.BOX)
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BICUBIC
    return small.resize(image.size, resample)
