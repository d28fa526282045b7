"""Render MNIST digits, and things that are not digits, as the files users really drop.

A 28x28 MNIST digit becomes dark ink on a paper-coloured page: scaled up with
smooth interpolation, given pen-like edges, rotated, blurred, placed anywhere on
a page from just fitting to four times its size, lit unevenly, given sensor
noise and JPEG artefacts, and saved in one of the formats and modes scanners
and phones write. Each named condition in `CONDITIONS` fixes which of these
happen and how strongly; every random draw comes from the Generator passed in,
so a seed gives byte-identical files. Nothing here imports the product.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSansCondensed-Bold",
    "DejaVuSansMono",
)
CAPITALS = "ABCEFHKMNPRWXY"  # the capitals the issue names
LOWERCASE = "aehkmnrwx"  # none of b g l o q s t z, which pass for 6 9 1 0 9 5 + 2
NON_DIGIT_KINDS = (
    "blank page",
    "pure noise",
    "ruled or squared paper",
    "capital letters",
    "lowercase letters",
    "smudge",
)
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif"}
MNIST_BOX = 20  # pixels: the digit's longest side inside MNIST's 28x28 field


@dataclass(frozen=True)
class Style:
    """How one rendering looks and is saved; every range is sampled per image."""

    paper: str = "white"  # white, offwhite, grey, light grey, tinted (see PAPERS)
    ink: str = "black"  # black, blue, red, pencil (see INKS)
    height_px: tuple[float, float] = (40.0, 300.0)  # pixels: the digit's height on the page (log-uniform)
    page_factor: tuple[float, float] = (1.3, 3.0)  # page side / inked area side, drawn per axis
    edge: bool = False  # put the digit against an edge or in a corner rather than anywhere
    rotation_deg: tuple[float, float] = (0.0, 4.0)  # degrees, magnitude range; the sign is random
    blur: tuple[float, float] = (0.0, 0.0)  # Gaussian sigma in MNIST pixels (scales with the digit)
    noise: tuple[float, float] = (0.0, 0.01)  # Gaussian sensor noise sigma, intensity 0..1
    shadow: tuple[float, float] = (0.0, 0.0)  # share of light lost across the page
    jpeg_quality: tuple[int, int] | None = None  # JPEG-compress first (or the quality of a JPEG/WebP file)
    format: str = "PNG"  # a Pillow format name, a key of SUFFIXES
    mode: str = "L"  # L, RGB, P, I;16, 1, RGBA-border (opaque paper, clear surround), RGBA-clear (ink only)


@dataclass(frozen=True)
class Rendered:
    """One image file's bytes and the suffix its format takes."""

    data: bytes
    suffix: str


PHONE = Style(
    paper="grey",
    height_px=(60, 300),
    page_factor=(1.5, 4.0),
    rotation_deg=(0, 10),
    blur=(0.3, 0.8),
    noise=(0.015, 0.04),
    shadow=(0.1, 0.35),
    jpeg_quality=(60, 90),
    format="JPEG",
    mode="RGB",
)

CONDITIONS: dict[str, Style] = {
    "clean scan, white paper, grey PNG": Style(),
    "off-white paper, RGB PNG": Style(paper="offwhite", mode="RGB"),
    "grey paper (0.60-0.85), grey PNG": Style(paper="grey"),
    "tinted paper (sticky note), RGB PNG": Style(paper="tinted", mode="RGB"),
    "small digit 40-70 px on 3-4x page": Style(height_px=(40, 70), page_factor=(3.0, 4.0)),
    "digit filling the page": Style(page_factor=(1.02, 1.15)),
    "off-centre, at an edge or corner": Style(page_factor=(2.0, 4.0), edge=True),
    "rotated 5-10 degrees": Style(rotation_deg=(5, 10)),
    "sensor noise sigma 0.03-0.07": Style(noise=(0.03, 0.07)),
    "blurred, sigma 0.4-1.0 MNIST px": Style(blur=(0.4, 1.0)),
    "uneven lighting, 25-50% shadow": Style(shadow=(0.25, 0.5)),
    "JPEG q50-90 artefacts, saved as PNG": Style(jpeg_quality=(50, 90)),
    "pencil (light grey strokes), PNG": Style(ink="pencil"),
    "red pen on off-white, RGB BMP": Style(paper="offwhite", ink="red", format="BMP", mode="RGB"),
    "JPEG file, grey, q75-95": Style(format="JPEG"),
    "BMP file, grey (8-bit)": Style(format="BMP"),
    "TIFF file, RGB, LZW": Style(format="TIFF", mode="RGB"),
    "WebP file, RGB, lossy q75-95": Style(format="WEBP", mode="RGB"),
    "GIF file, palette": Style(format="GIF", mode="P", paper="offwhite"),
    "PNG palette (P), 16-256 colours": Style(mode="P", paper="offwhite"),
    "RGBA PNG, paper in clear surround": Style(mode="RGBA-border", paper="grey"),
    "RGBA PNG, clear paper (ink only)": Style(mode="RGBA-clear"),
    "16-bit grey PNG (I;16)": Style(mode="I;16"),
    "16-bit grey TIFF (I;16)": Style(mode="I;16", format="TIFF", paper="grey"),
    "1-bit bilevel TIFF (G4 fax)": Style(mode="1", format="TIFF", height_px=(80, 300)),
    "phone: black ink, grey paper, JPEG": PHONE,
    "phone: blue ballpoint, grey paper, JPEG": replace(PHONE, ink="blue"),
    "phone: small off-centre digit, WebP": replace(PHONE, height_px=(40, 90), edge=True, format="WEBP"),
}


def _grey(level: float) -> np.ndarray:
    return np.full(3, level, dtype=np.float32)


# Paper colours (RGB reflectance) and ink colours (share of the paper's light the ink lets back).
PAPERS = {
    "white": lambda rng: _grey(rng.uniform(0.92, 1.0)),
    "offwhite": lambda rng: np.float32([0.96, 0.94, 0.88]) - rng.uniform(0.0, 0.06),
    "grey": lambda rng: _grey(rng.uniform(0.6, 0.85)) + rng.uniform(-0.03, 0.03, 3).astype(np.float32),
    "light grey": lambda rng: _grey(rng.uniform(200 / 255, 1.0)),
    "tinted": lambda rng: (
        np.float32([[1.0, 0.95, 0.62], [0.82, 0.9, 1.0], [1.0, 0.86, 0.9], [0.86, 1.0, 0.86]][rng.integers(4)])
        * rng.uniform(0.9, 1.0)
    ),
}
INKS = {
    "black": lambda rng: _grey(rng.uniform(0.05, 0.2)),
    "blue": lambda rng: np.float32([rng.uniform(0.2, 0.4), rng.uniform(0.25, 0.45), rng.uniform(0.55, 0.8)]),
    "red": lambda rng: np.float32([rng.uniform(0.7, 0.85), rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.25)]),
    "pencil": lambda rng: _grey(rng.uniform(0.35, 0.55)),
    "ruling": lambda rng: np.float32([[0.6, 0.75, 0.95], [0.7, 0.7, 0.7]][rng.integers(2)]),
}


def image_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The Generator for one image, so each file is reproducible on its own and in any order."""
    return np.random.default_rng([seed, stream, index])


def render_digit_file(digit: np.ndarray, condition: str, rng: np.random.Generator) -> Rendered:
    """A 28x28 uint8 MNIST digit as the bytes of an image file in the named condition."""
    style = CONDITIONS[condition]
    return encode(render_digit(digit, style, rng), style, rng)


def render_digit(digit: np.ndarray, style: Style, rng: np.random.Generator) -> Image.Image:
    """A 28x28 uint8 MNIST digit (white on black) as a PIL page in the style's mode."""
    page, layer = compose_page(ink_layer(digit, style, rng), style, rng)
    return to_image(page, layer, style, rng)


def ink_layer(digit: np.ndarray, style: Style, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 uint8 MNIST digit as pen ink (coverage 0..1) at the style's height, turned and cropped to its ink."""
    height = log_uniform(rng, *style.height_px)
    scale = height / MNIST_BOX  # page pixels per MNIST pixel
    return _finish_ink(pen_coverage(digit, scale, rng), style, scale, rng)


def pen_coverage(digit: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 uint8 MNIST digit scaled `scale` times, with pen-like edges: ink coverage 0..1."""
    side = max(28, round(28 * scale))
    up = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0
    low = rng.uniform(0.15, 0.3)  # pen edges: a scan of a real pen stroke is sharper than upscaled MNIST
    return np.clip((up - low) / rng.uniform(0.3, 0.5), 0.0, 1.0)


def _finish_ink(coverage: np.ndarray, style: Style, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate, blur and fade an ink layer, then crop it to its inked area."""
    angle = rng.uniform(*style.rotation_deg) * rng.choice([-1.0, 1.0])
    rotated = Image.fromarray(coverage, mode="F").rotate(angle, Image.Resampling.BICUBIC, expand=True)
    coverage = np.clip(np.asarray(rotated, np.float32), 0.0, 1.0)
    sigma = rng.uniform(*style.blur) * scale
    if sigma > 0.1:
        coverage = ndimage.gaussian_filter(coverage, sigma)
    coverage *= rng.uniform(0.85, 1.0)  # ink is rarely perfectly opaque
    rows = np.flatnonzero(coverage.max(axis=1) > 0.02)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.02)
    if len(rows) == 0:
        return coverage
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def compose_page(coverage: np.ndarray, style: Style, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lay an ink layer on paper; returns the page (HxWx3 float in [0, 1]) and the ink layer at page size."""
    height, width = coverage.shape
    factor_y, factor_x = rng.uniform(*style.page_factor, size=2)
    page_h, page_w = max(height, round(height * factor_y)), max(width, round(width * factor_x))
    top, left = _place(page_h - height, page_w - width, edge=style.edge, rng=rng)
    layer = np.zeros((page_h, page_w), dtype=np.float32)
    layer[top : top + height, left : left + width] = coverage
    paper, ink = PAPERS[style.paper](rng), INKS[style.ink](rng)
    page = paper * (1.0 - layer[..., None] * (1.0 - ink))  # ink absorbs part of the paper's light
    page *= _lighting(page_h, page_w, rng.uniform(*style.shadow), rng)[..., None]
    sigma = rng.uniform(*style.noise)
    if sigma > 0:
        page += sigma * rng.standard_normal(page.shape, dtype=np.float32)
    return np.clip(page, 0.0, 1.0), layer


def _place(free_y: int, free_x: int, *, edge: bool, rng: np.random.Generator) -> tuple[int, int]:
    """Where the inked area's top-left corner goes: anywhere, or against an edge or corner."""
    if not edge:
        return round(rng.uniform(0, free_y)), round(rng.uniform(0, free_x))

    def near(free: int) -> int:
        return round(free * (rng.uniform(0.0, 0.08) if rng.random() < 0.5 else rng.uniform(0.92, 1.0)))

    return near(free_y), near(free_x)


def _lighting(height: int, width: int, drop: float, rng: np.random.Generator) -> np.ndarray:
    """Light falling off smoothly across the page in a random direction (a hand's or phone's shadow)."""
    if drop <= 0:
        return np.ones((height, width), dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * np.cos(angle) / max(width, 1) + ys * np.sin(angle) / max(height, 1)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    return (1.0 - drop * ramp * ramp * (3 - 2 * ramp)).astype(np.float32)  # smoothstep: no hard edge


def to_image(page: np.ndarray, layer: np.ndarray, style: Style, rng: np.random.Generator) -> Image.Image:
    """Turn a float page into a PIL image in the style's mode, JPEG-compressing it first if asked."""
    image = Image.fromarray((page * 255.0 + 0.5).astype(np.uint8), mode="RGB")
    if style.mode in ("L", "I;16", "1"):
        image = image.convert("L")
    if style.jpeg_quality and style.format not in ("JPEG", "WEBP"):
        image = _jpeg_roundtrip(image, int(rng.integers(style.jpeg_quality[0], style.jpeg_quality[1] + 1)))
    if style.mode == "P":
        return image.convert("RGB").quantize(colors=int(rng.integers(16, 257)))
    if style.mode == "I;16":
        return Image.fromarray((np.asarray(image, np.float32) / 255.0 * 65535.0 + 0.5).astype(np.uint16))
    if style.mode == "1":
        threshold = 0.5 * (float(np.percentile(image, 50)) + float(np.asarray(image).min()))
        return image.point(lambda value: 255 if value > threshold else 0).convert("1", dither=Image.Dither.NONE)
    if style.mode == "RGBA-border":
        return _in_clear_surround(image, rng)
    if style.mode == "RGBA-clear":
        alpha = (np.clip(layer * 1.1, 0, 1) * 255 + 0.5).astype(np.uint8)
        rgb = np.asarray(image.convert("RGB")) * (alpha[..., None] > 0)  # apps store clear pixels as black
        return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), mode="RGBA")
    return image


def _jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


def _in_clear_surround(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Opaque paper pasted into a larger transparent canvas, as a cut-out photo is saved."""
    pad_x, pad_y = (round(side * rng.uniform(0.05, 0.3)) for side in image.size)
    canvas = Image.new("RGBA", (image.width + 2 * pad_x, image.height + 2 * pad_y), (0, 0, 0, 0))
    canvas.paste(image.convert("RGBA"), (pad_x, pad_y))
    return canvas


def encode(image: Image.Image, style: Style, rng: np.random.Generator) -> Rendered:
    """Save a page in the style's file format; JPEG and WebP get a quality from the style's range."""
    options: dict[str, object] = {}
    if style.format in ("JPEG", "WEBP"):
        low, high = style.jpeg_quality or (75, 95)
        options["quality"] = int(rng.integers(low, high + 1))
    if style.format == "TIFF":
        options["compression"] = "group4" if image.mode == "1" else "tiff_lzw"
    buffer = io.BytesIO()
    image.save(buffer, format=style.format, **options)
    return Rendered(data=buffer.getvalue(), suffix=SUFFIXES[style.format])


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A draw spread evenly over the orders of magnitude between low and high."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def digit_files(digits: np.ndarray, *, seed: int) -> Iterator[tuple[str, Rendered]]:
    """Yield (condition, file) for each digit, cycling through the conditions in order."""
    names = list(CONDITIONS)
    for index, digit in enumerate(digits):
        yield names[index % len(names)], render_digit_file(digit, names[index % len(names)], image_rng(seed, 0, index))


def non_digit_files(count: int, *, seed: int) -> Iterator[tuple[str, Rendered]]:
    """Yield (kind, file) for `count` images without a digit, cycling through NON_DIGIT_KINDS."""
    for index in range(count):
        kind = NON_DIGIT_KINDS[index % len(NON_DIGIT_KINDS)]
        yield kind, render_non_digit_file(kind, image_rng(seed, 1, index))


def render_non_digit_file(kind: str, rng: np.random.Generator) -> Rendered:
    """An image holding no digit, of one of NON_DIGIT_KINDS, styled like a randomly chosen digit condition."""
    style = CONDITIONS[list(CONDITIONS)[int(rng.integers(len(CONDITIONS)))]]
    if style.mode == "RGBA-clear":
        style = replace(style, mode="RGBA-border")  # a page of nothing but clear pixels says nothing
    return encode(render_non_digit(kind, style, rng), style, rng)


def render_non_digit(kind: str, style: Style, rng: np.random.Generator) -> Image.Image:
    """A PIL page in the style's mode holding a letter, a smudge, ruled lines, noise or nothing."""
    height = log_uniform(rng, *style.height_px)
    if kind == "capital letters" or kind == "lowercase letters":
        coverage = _letter(CAPITALS if kind == "capital letters" else LOWERCASE, height, rng)
    elif kind == "smudge":
        coverage = _smudge(round(height), rng)
    else:
        return _whole_page(kind, style, height, rng)
    page, layer = compose_page(_finish_ink(coverage, style, height / MNIST_BOX, rng), style, rng)
    return to_image(page, layer, style, rng)


def _letter(alphabet: str, height: float, rng: np.random.Generator) -> np.ndarray:
    """One letter in a DejaVu face, about `height` pixels tall for capitals, with a random pen weight."""
    char = alphabet[int(rng.integers(len(alphabet)))]
    size = max(12, round(height / 0.73))  # DejaVu's capitals are 0.73 em tall
    font = _font(FONTS[int(rng.integers(len(FONTS)))], size)
    stroke = int(rng.integers(0, size // 14 + 1))
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(canvas).text(
        (size, size), char, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255
    )
    return np.asarray(canvas, dtype=np.float32) / 255.0


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(f"{FONT_DIR}/{name}.ttf", size)


def _smudge(side: int, rng: np.random.Generator) -> np.ndarray:
    """One to three soft, faint, grainy blobs: rubbed ink, graphite or a fingerprint."""
    ys, xs = (grid / side for grid in np.mgrid[0:side, 0:side].astype(np.float32))
    layer = np.zeros((side, side), dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        (cy, cx), (sy, sx), turn = rng.uniform(0.3, 0.7, 2), rng.uniform(0.06, 0.25, 2), rng.uniform(0, np.pi)
        u = (xs - cx) * np.cos(turn) + (ys - cy) * np.sin(turn)
        v = (ys - cy) * np.cos(turn) - (xs - cx) * np.sin(turn)
        layer += rng.uniform(0.2, 0.6) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    grain = ndimage.gaussian_filter(rng.standard_normal((side, side), dtype=np.float32), max(1.0, side / 40))
    layer *= np.clip(1.0 + 0.4 * grain / max(float(grain.std()), 1e-6), 0.0, None)
    return np.clip(layer, 0.0, 1.0)


def _whole_page(kind: str, style: Style, height: float, rng: np.random.Generator) -> Image.Image:
    """A page that is all background: blank (perhaps dusty or noisy), ruled or squared, or pure noise."""
    shape = tuple(round(height * 1.4 * factor) for factor in rng.uniform(1.0, 3.0, 2))
    flat = replace(style, page_factor=(1.0, 1.0))
    if kind == "ruled or squared paper":
        flat, layer = replace(flat, ink="ruling"), _rules(shape, height, style, rng)
    else:
        layer = _dust(shape, rng)
        if rng.random() < 0.5:
            flat = replace(flat, noise=(0.01, 0.04))  # a cheap sensor's grain on an empty page
    page, layer = compose_page(layer, flat, rng)
    if kind == "pure noise":
        page = _noise(page.shape, rng)
    return to_image(page, layer, flat, rng)


def _rules(shape: tuple[int, ...], height: float, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Printed lines a line-height apart, on squared paper also vertical ones, slightly tilted."""
    layer = np.zeros(shape, dtype=np.float32)
    spacing = max(8.0, height * rng.uniform(0.7, 1.4))
    width = max(1, round(spacing * rng.uniform(0.02, 0.06)))
    strength = rng.uniform(0.6, 1.0)
    for start in np.arange(rng.uniform(0, spacing), shape[0], spacing).astype(int):
        layer[start : start + width] = strength
    if rng.random() < 0.4:  # squared paper
        for start in np.arange(rng.uniform(0, spacing), shape[1], spacing).astype(int):
            layer[:, start : start + width] = strength
    angle = rng.uniform(*style.rotation_deg) * rng.choice([-1.0, 1.0])
    return np.asarray(Image.fromarray(layer, mode="F").rotate(angle, Image.Resampling.BILINEAR), np.float32)


def _dust(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An empty page, half the time with a few specks of scanner dust."""
    layer = np.zeros(shape, dtype=np.float32)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 7))):
            y, x, r = int(rng.integers(shape[0])), int(rng.integers(shape[1])), int(rng.integers(1, 3))
            layer[max(0, y - r) : y + r, max(0, x - r) : x + r] = rng.uniform(0.4, 1.0)
    return layer


def _noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Pure noise: uniform static, or grainy Gaussian noise around a grey level, grey or coloured."""
    channels = shape if rng.random() < 0.5 else shape[:2] + (1,)
    if rng.random() < 0.5:
        noise = rng.random(channels, dtype=np.float32)
    else:
        noise = rng.uniform(0.3, 0.8) + rng.uniform(0.1, 0.3) * rng.standard_normal(channels, dtype=np.float32)
        noise = ndimage.gaussian_filter(noise, (rng.uniform(0, 2), rng.uniform(0, 2), 0))
    return np.clip(np.broadcast_to(noise, shape), 0.0, 1.0).astype(np.float32)
