"""Render MNIST digits as the documents users drop besides single images.

PDFs as an office scanner saves them (each page a JPEG raster) and as a pen
tablet exports them (the digit as filled vector paths), multi-page TIFFs in
G4 and LZW, colour HEIC photos as phones take them, and a small digit on a
whole A4 page scanned at 300 dpi. A document holds one digit per page. These
conditions draw from their own random stream (`DOCUMENT_STREAM`), so the
single-image conditions of `scan_render` render byte for byte as before.
"""

from __future__ import annotations

import io
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import contourpy
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the hand-made PDF writer the tests use

from document_files import pdf_bytes as hand_made_pdf
from scan_render import INKS, PAPERS, PHONE, Rendered, Style, image_rng, ink_layer, log_uniform, render_digit

DOCUMENT_STREAM = 2  # image_rng stream: digit images use 0, non-digits 1
A4_PX = (2480, 3508)  # pixels: an A4 page (210 x 297 mm) at 300 dpi, width and height
DPI = 300  # scanners' resolution: raster pages are embedded at this, vector pages are sized for it
POINTS_PER_PX = 72 / DPI
SCANNED_AT = 1_700_000_000  # seconds since 1970: the creation date scanned PDFs carry
ORIENTATION = 0x0112  # the EXIF tag saying how the camera was held
SCANNER_STYLES = (Style(), Style(paper="offwhite", mode="RGB"), Style(ink="blue", mode="RGB"))
LZW_STYLES = (Style(format="TIFF"), Style(format="TIFF", paper="offwhite", mode="RGB"))
G4_STYLE = Style(mode="1", format="TIFF", height_px=(80, 300))  # as the single-page G4 condition
HEIC_STYLE = replace(PHONE, jpeg_quality=None, format="HEIF")  # HEVC is the photo's only compression
A4_STYLE = Style(height_px=(0.03 * A4_PX[1], 0.06 * A4_PX[1]))  # a digit 3-6% of the page's height: 105-210 px
VECTOR_STYLE = Style(height_px=(60, 400), rotation_deg=(0, 4))  # the page sizes and placement of a tablet export


@dataclass(frozen=True)
class DocumentKind:
    """How many pages a document of one condition has, and how its file is made from its digits."""

    pages: tuple[int, int]  # fewest and most pages, drawn uniformly
    render: Callable[[list[np.ndarray], np.random.Generator], Rendered]


@dataclass(frozen=True)
class Document:
    """One document file, its condition, and which digits of the pool its pages hold, in page order."""

    condition: str
    file: Rendered
    digits: tuple[int, ...]  # positions in the pool passed to `document_files`


def scanned_pdf(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A PDF of scanned pages, one JPEG raster per page at 300 dpi, as an office scanner saves it."""
    style = SCANNER_STYLES[int(rng.integers(len(SCANNER_STYLES)))]
    pages = [render_digit(digit, style, rng) for digit in digits]
    buffer = io.BytesIO()
    quality = int(rng.integers(75, 96))
    stamp = time.gmtime(SCANNED_AT)  # Pillow stamps the time of saving otherwise: files would differ run to run
    options = {"resolution": DPI, "quality": quality, "creationDate": stamp, "modDate": stamp}
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:], **options)
    return Rendered(data=buffer.getvalue(), suffix=".pdf")


def vector_pdf(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A PDF whose pages each hold one digit as filled outlines in pen colour, as a pen tablet exports it."""
    return Rendered(data=pdf_bytes([_vector_page(digit, rng) for digit in digits]), suffix=".pdf")


def _vector_page(digit: np.ndarray, rng: np.random.Generator) -> tuple[float, float, bytes]:
    """One page: its width and height in points and a content stream filling the digit's outline."""
    outlines, (width, height) = _outlines(digit, rng)
    page_w, page_h = (max(side, side * rng.uniform(*VECTOR_STYLE.page_factor)) for side in (width, height))
    left, bottom = rng.uniform(0, page_w - width), rng.uniform(0, page_h - height)
    ink = INKS["blue" if rng.random() < 0.3 else "black"](rng)
    commands = [f"{ink[0]:.3f} {ink[1]:.3f} {ink[2]:.3f} rg"]
    for outline in outlines:
        points = [f"{left + x:.2f} {bottom + height - y:.2f}" for x, y in outline[:-1]]  # PDF's y runs upwards
        commands += [f"{points[0]} m", *(f"{point} l" for point in points[1:]), "h"]
    commands.append("f*")  # even-odd: the holes of 0, 4, 6, 8 and 9 stay paper
    return page_w, page_h, "\n".join(commands).encode("ascii")


def _outlines(digit: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[float, float]]:
    """The digit's stroke outlines in points, turned a little and moved to start at (0, 0); and their extent."""
    side = 8 * 28  # pixels: fine enough for smooth curves once traced
    up = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0
    level = rng.uniform(0.3, 0.5)  # where the pen's edge lies: lower is a broader nib
    lines = contourpy.contour_generator(z=np.pad(up, 1), line_type=contourpy.LineType.Separate).lines(level)
    outlines = [np.asarray(line, np.float64) for line in lines if len(line) > 3]
    angle = np.radians(rng.uniform(*VECTOR_STYLE.rotation_deg) * rng.choice([-1.0, 1.0]))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    outlines = [outline @ turn.T for outline in outlines]
    low = np.min([outline.min(axis=0) for outline in outlines], axis=0)
    high = np.max([outline.max(axis=0) for outline in outlines], axis=0)
    scale = log_uniform(rng, *VECTOR_STYLE.height_px) * POINTS_PER_PX / (high[1] - low[1])
    return [(outline - low) * scale for outline in outlines], ((high[0] - low[0]) * scale, (high[1] - low[1]) * scale)


def pdf_bytes(pages: list[tuple[float, float, bytes]]) -> bytes:
    """A minimal PDF 1.4 file of pages given as (width pt, height pt, content stream), streams Flate-compressed."""
    kids = " ".join(f"{3 + 2 * index} 0 R" for index in range(len(pages)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Count {len(pages)} /Kids [{kids}] >>".encode()]
    for index, (width, height, content) in enumerate(pages):
        packed = zlib.compress(content)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width:.2f} {height:.2f}] "
            f"/Resources << >> /Contents {4 + 2 * index} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%b\nendstream" % (len(packed), packed))
    return hand_made_pdf(objects)


def g4_tiff(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A multi-page bilevel TIFF, CCITT group 4, as a fax or a document scanner in black-and-white writes."""
    return _tiff([render_digit(digit, G4_STYLE, rng) for digit in digits], "group4")


def lzw_tiff(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A multi-page grey or colour TIFF, LZW-compressed."""
    style = LZW_STYLES[int(rng.integers(len(LZW_STYLES)))]
    return _tiff([render_digit(digit, style, rng) for digit in digits], "tiff_lzw")


def _tiff(pages: list[Image.Image], compression: str) -> Rendered:
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:], compression=compression)
    return Rendered(data=buffer.getvalue(), suffix=".tif")


def heic_photo(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A colour phone photo saved as HEIC; half are stored turned, with the EXIF orientation that turns them back."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    style = replace(HEIC_STYLE, ink="blue" if rng.random() < 0.5 else "black")
    image = render_digit(digits[0], style, rng)
    exif = Image.Exif()
    if rng.random() < 0.5:  # held upright: the sensor's landscape pixels, turned on display (6: 90 deg clockwise)
        exif[ORIENTATION] = 6
        image = image.transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    quality = int(rng.integers(60, 91))
    image.save(buffer, format="HEIF", quality=quality, exif=exif.tobytes(), enc_params={"preset": "ultrafast"})
    return Rendered(data=buffer.getvalue(), suffix=".heic")


def a4_page(digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """A whole A4 page scanned at 300 dpi in grey, a digit 3-6% of its height anywhere on it; saved as PNG."""
    width, height = A4_PX
    coverage = ink_layer(digits[0], A4_STYLE, rng)
    paper, ink = float(PAPERS["white"](rng)[0]), float(INKS["black"](rng)[0])
    page = np.full((height, width), paper, dtype=np.float32)
    top, left = (int(rng.integers(0, free + 1)) for free in (height - coverage.shape[0], width - coverage.shape[1]))
    area = page[top : top + coverage.shape[0], left : left + coverage.shape[1]]
    area *= 1.0 - coverage * (1.0 - ink)  # ink lets back this share of the paper's light
    buffer = io.BytesIO()
    Image.fromarray((page * 255.0 + 0.5).astype(np.uint8), mode="L").save(buffer, format="PNG", dpi=(DPI, DPI))
    return Rendered(data=buffer.getvalue(), suffix=".png")


DOCUMENTS: dict[str, DocumentKind] = {
    "PDF scanned (JPEG raster pages), 1-3 pages": DocumentKind((1, 3), scanned_pdf),
    "PDF vector-drawn (filled paths), 1-3 pages": DocumentKind((1, 3), vector_pdf),
    "multi-page TIFF, 1-bit G4, 2-4 pages": DocumentKind((2, 4), g4_tiff),
    "multi-page TIFF, grey or RGB LZW, 2-4 pages": DocumentKind((2, 4), lzw_tiff),
    "HEIC photo, colour (pillow-heif)": DocumentKind((1, 1), heic_photo),
    "A4 page at 300 dpi, digit 3-6% of height": DocumentKind((1, 1), a4_page),
}


def render_document(condition: str, digits: list[np.ndarray], rng: np.random.Generator) -> Rendered:
    """The digits (28x28 uint8 MNIST, one per page) as a document file in the named condition."""
    return DOCUMENTS[condition].render(digits, rng)


def document_files(pool: np.ndarray, count: int, *, seed: int) -> Iterator[Document]:
    """Yield `count` documents, the conditions in turn, their pages taking digits from `pool` in order (wrapping)."""
    names, taken = list(DOCUMENTS), 0
    for index in range(count):
        condition = names[index % len(names)]
        rng = image_rng(seed, DOCUMENT_STREAM, index)
        fewest, most = DOCUMENTS[condition].pages
        positions = tuple((taken + page) % len(pool) for page in range(int(rng.integers(fewest, most + 1))))
        taken += len(positions)
        yield Document(condition, render_document(condition, [pool[p] for p in positions], rng), positions)
