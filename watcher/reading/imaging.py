"""Open any image a scanner or phone produces and normalise it to the model's 28x28 input.

MNIST was made by cropping each digit to its ink, scaling the longest side
to 20 pixels with anti-aliasing and placing it in a 28x28 field so that its
centre of mass sits in the middle, white ink on black. This module does the
same to a scan or photo, after deciding which side is ink, removing the paper
level and uneven lighting, and dropping specks. Training runs MNIST itself
through `normalise_array`, so training and inference see the same pixels.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from watcher.protocol import Status
from watcher.reading.documents import open_document
from watcher.reading.loading import ImageError, PageReader, read_image_bytes
from watcher.reading.rules import Rule
from watcher.settings import DEFAULT_MAX_PAGES

if TYPE_CHECKING:
    from watcher.reading.ink import Ink

# Bump whenever the pixels this module makes from training inputs (MNIST's 28x28
# digits, the 96-px synthetic non-digits) change; models record it. Reading pages
# at 160 px changed pages only: MNIST digits pass through as before, and 994 of
# 1,000 synthetic non-digits came out identical (mean difference 0.0003).
NORMALISATION_VERSION = 1

OUTPUT_SIZE = 28  # pixels, MNIST field
DIGIT_BOX = 20  # pixels, longest side of the digit inside the field
CROP_LEVEL = 0.1  # ink strength that counts for the crop: faint edges in, blur and fringe out
ANALYSIS_SIDE = 160  # pixels: files are first read reduced to this (see `read_page`)
WORKING_SIDE = 1024  # pixels: the most a file is read at, and the size arrays are reduced to
MIN_DIGIT_SIDE = 2 * DIGIT_BOX  # pixels: a digit found smaller than this is read again at a finer scale
MIN_DIGIT_SHARE = 0.015  # of the page's longer side: a smaller digit is too small to read (4.5 mm on A4)
MIN_DIGIT_PIXELS = 20  # pixels in full: a smaller digit is too small to read whatever the page
# The ink's box, measured at the reading's resolution, can come out a pixel or two under the height
# written (105 px measured as 104 in the scan benchmark); this much under the limit still reads.
SIZE_TOLERANCE = 0.95
THICK_SHARE = 0.25  # of the digit's ink in strokes wider than a pixel of the 20-px box: needed to widen thin ones
THIN_SHARE = 0.1  # of the digit's ink in strokes narrower than that: needed to widen them
BILEVEL_GREYS = 0.1  # share of inked pixels in grey (0.1-0.9) under which a scan is bilevel
FRAGMENT_KEPT_SHARE = 0.9  # of the ink around the digit: a digit keeping less may be a fragment (uncertain)
SPECK_SHARE = 0.01  # of the page's longer side: ink smaller than this is dust on a blank page
SPECK_PIXELS = 12  # pixels in full: ink smaller than this is dust whatever the page, never a digit to read

# Reads a page, or a region of it, with its longer side at most the pixels given.
Reading = Callable[[int], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class Reading28:
    """A page read for the model: its 28x28 digit, and why that digit may be only part of the ink, if it may."""

    digit: np.ndarray
    doubt: str | None = None


@dataclass(frozen=True)
class Prepared:
    """One row's worth of a file read once: its content hash, which page (None for a single image),
    and the normalised digit or why there is none."""

    sha256: str
    digit: np.ndarray | None = None
    error: ImageError | None = None
    page: int | None = None  # 1-based page of a PDF or multi-page TIFF
    doubt: str | None = None  # why the digit read may be only part of the ink: never an `ok` row


def prepare_file(
    path: str | os.PathLike[str], *, max_pages: int = DEFAULT_MAX_PAGES, tick: Callable[[], None] | None = None
) -> list[Prepared]:
    """Read a file once, hash it and normalise each of its pages; never raises for a bad file.

    Returns one Prepared per row: one for an image, one per page for a PDF or a
    multi-page TIFF, and a single error for a file that cannot be read at all
    (or has more than `max_pages` pages). `tick`, when given, is called as the
    file is opened and as each page starts (a decode worker times each step).
    """
    tick = tick or _no_tick
    tick()
    try:
        data = read_image_bytes(path, allow_empty=True)
    except ImageError as exc:  # the bytes could not be read: no hash to give
        return [Prepared(sha256="", error=exc)]
    return prepare_bytes(data, max_pages=max_pages, tick=tick)


def prepare_bytes(
    data: bytes, *, max_pages: int = DEFAULT_MAX_PAGES, tick: Callable[[], None] | None = None
) -> list[Prepared]:
    """`prepare_file` for a file's bytes already in memory (a cluster reads them for us); never raises."""
    tick = tick or _no_tick
    sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        return [Prepared(sha256=sha256, error=ImageError("empty file (0 bytes)"))]
    try:
        with open_document(data, max_pages=max_pages) as document:
            prepared = []
            for number, page in enumerate(document.pages, start=1):
                tick()
                prepared.append(_prepare_page(page, sha256, number if document.numbered else None))
            return prepared
    except ImageError as exc:
        return [Prepared(sha256=sha256, error=exc)]


def _no_tick() -> None:
    pass


def _prepare_page(page: PageReader, sha256: str, number: int | None) -> Prepared:
    try:
        reading = read_page(page)
        return Prepared(sha256=sha256, digit=reading.digit, page=number, doubt=reading.doubt)
    except ImageError as exc:
        return Prepared(sha256=sha256, error=exc, page=number)


def normalise_page(reader: PageReader) -> np.ndarray:
    """Read one page and return the model's 28x28 float32 input (see `read_page`)."""
    return read_page(reader).digit


def read_page(reader: PageReader) -> Reading28:
    """Read one page: the model's 28x28 float32 input, and why the reading is doubtful, if it is.

    A page is first read reduced to ANALYSIS_SIDE pixels: finding the ink costs
    in proportion to the pixels, and a digit filling a good part of the page
    keeps far more than the 20 pixels it ends up with. When the digit found is
    smaller than MIN_DIGIT_SIDE, the file is read again just finely enough, up
    to WORKING_SIDE. When no digit is found there, it may be small for the
    page: whether there is ink at all is judged by shares of the page, so a
    digit under about a sixth of the page's side shows none, and one a little
    larger is too few pixels across to show its strokes. Then the region
    around the ink is read closer (see `_normalise_small_digit`).
    """
    pixels, full_side = reader.read(ANALYSIS_SIDE)
    try:
        crop, _, ink = _crop_finely(reader.read, ANALYSIS_SIDE, (pixels, full_side), _find_ink(pixels))
    except ImageError as exc:
        if exc.kind != Status.NO_DIGIT:
            raise
        return _normalise_small_digit(reader, pixels, full_side, exc)
    return Reading28(_centre_by_mass(_scale_to_box(crop)), _doubt(ink))


def _crop_finely(read: Reading, side: int, reading: tuple[np.ndarray, int], ink: Ink) -> tuple[np.ndarray, float, Ink]:
    """Crop to the ink of a `reading` made at `side`, reading again finer while the digit is under MIN_DIGIT_SIDE.

    `read(max_side)` reads the page (or a region of it) again. Returns the
    crop, how many pixels in full each of its pixels stands for, and the ink
    it was cut from.
    """
    pixels, full_side = reading
    while True:
        crop = _crop_to_ink(ink)
        reduced_by = full_side / max(pixels.shape[:2])
        # The whole reduction factor that would give the digit MIN_DIGIT_SIDE pixels or more.
        enough = max(1, int(reduced_by * max(crop.shape) / MIN_DIGIT_SIDE))
        finer = min(WORKING_SIDE, -(-full_side // enough))
        if max(crop.shape) >= MIN_DIGIT_SIDE or enough >= round(reduced_by) or finer <= side:
            return crop, reduced_by, ink
        side = finer
        pixels, full_side = read(side)
        ink = _find_ink(pixels)


def _normalise_small_digit(reader: PageReader, pixels: np.ndarray, full_side: int, refusal: ImageError) -> Reading28:
    """Read a digit too small for the page's reduced reading (`pixels`) to find.

    The reduced reading still shows where the ink is, as a faint spot; only
    the region around it is read again, finely enough for the digit, and its
    ink found as usual. Raises `refusal` (why the reduced reading found no
    digit) when there is no lone spot, nothing digit-like in it, or only dust;
    and ImageError(NO_DIGIT) when the digit is under MIN_DIGIT_SHARE of the
    page's longer side.
    """
    region = _find_ink_spot(pixels)
    if region is None:
        raise refusal
    reduced_by = full_side / max(pixels.shape[:2])
    region_side = reduced_by * max(region[0].stop - region[0].start, region[1].stop - region[1].start)
    # The spot is about a third of its region: read it so that its digit gets MIN_DIGIT_SIDE pixels or more.
    enough = max(1, int(region_side / (3 * MIN_DIGIT_SIDE)))
    side = min(WORKING_SIDE, -(-round(region_side) // enough))
    read = functools.partial(reader.read_region, _fractions(region, pixels.shape[:2]))
    try:
        reading = read(side)
        crop, scale, ink = _crop_finely(read, side, reading, _find_ink(reading[0]))
    except ImageError as exc:
        if exc.kind != Status.NO_DIGIT:
            raise
        raise refusal from exc
    _check_digit_size(max(crop.shape) * scale, full_side, refusal)
    return Reading28(_centre_by_mass(_scale_to_box(crop)), _doubt(ink))


def _doubt(ink: Ink) -> str | None:
    """Why a digit read from this ink may be only part of what was written, or None.

    A fragment (a 6 without its hairlines is a "(") is read with full
    confidence as another digit, so the model's confidence cannot be trusted
    to flag it: the reading must.
    """
    if ink.kept_share < FRAGMENT_KEPT_SHARE:
        return Rule.FRAGMENT.text(kept_share=ink.kept_share)
    return None


def _fractions(box: tuple[slice, slice], shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """A box in an image of `shape` as fractions (left, top, right, bottom) of its width and height."""
    return (box[1].start / shape[1], box[0].start / shape[0], box[1].stop / shape[1], box[0].stop / shape[0])


def _check_digit_size(size: float, full_side: int, refusal: ImageError) -> None:
    """Refuse a digit `size` pixels across (in full) on a page `full_side` pixels long when too small to read.

    Ink under SPECK_SHARE of the page, or SPECK_PIXELS, is dust rather than a
    digit: then the reduced reading's `refusal` stands.
    """
    if size < max(SPECK_SHARE * full_side, SPECK_PIXELS):
        raise refusal
    readable = max(MIN_DIGIT_SHARE * full_side, MIN_DIGIT_PIXELS)
    if size < SIZE_TOLERANCE * readable:
        raise Rule.TOO_SMALL.refusal(size=size, full_side=full_side, readable=readable)


def normalise_array(pixels: np.ndarray) -> np.ndarray:
    """Turn a grey or RGB float image in [0, 1] into a 28x28 float32 MNIST-style digit.

    Raises ImageError(kind=Status.NO_DIGIT) when the image holds no ink or no
    digit-shaped ink (a blank page, pure noise, a ruled line).
    """
    pixels = _reduce_to_working_size(np.asarray(pixels, dtype=np.float32))
    ink = _find_ink(pixels)
    crop = _crop_to_ink(ink)
    digit = _scale_to_box(crop)
    return _centre_by_mass(digit)


def _reduce_to_working_size(pixels: np.ndarray) -> np.ndarray:
    """Shrink very large photos with area averaging; a 20-pixel digit needs no more."""
    height, width = pixels.shape[:2]
    factor = int(np.ceil(max(height, width) / WORKING_SIDE))
    if factor <= 1:
        return pixels
    new_h, new_w = height // factor, width // factor
    if min(new_h, new_w) < 4:
        raise Rule.STRIP.refusal(width=width, height=height)
    trimmed = pixels[: new_h * factor, : new_w * factor]
    shape = (new_h, factor, new_w, factor) + pixels.shape[2:]
    return np.asarray(trimmed.reshape(shape).mean(axis=(1, 3), dtype=np.float32))


def _find_ink(pixels: np.ndarray) -> Ink:
    """`watcher.reading.ink.find_ink`, imported on first use: it brings in SciPy, slow to import,
    and a process that hands all its files to decode workers never needs it."""
    from watcher.reading.ink import find_ink

    return find_ink(pixels)


def _find_ink_spot(pixels: np.ndarray) -> tuple[slice, slice] | None:
    """`watcher.reading.ink.find_ink_spot`, imported on first use as `_find_ink` is."""
    from watcher.reading.ink import find_ink_spot

    return find_ink_spot(pixels)


def _crop_to_ink(ink: Ink) -> np.ndarray:
    """Cut the ink to its bounding box at full resolution, faint stroke edges included."""
    inked = ink.strength > CROP_LEVEL
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    return ink.strength[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Scale the longest side to 20 pixels with anti-aliasing, keeping the aspect ratio."""
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    crop = _widen_thin_strokes(crop, int(1 / scale))
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(crop, mode="F").resize(new_size, resample), np.float32)
    peak = float(scaled.max())
    # Thin pens shrink to faint grey lines; restore full strength as MNIST's strokes have.
    if 0 < peak < 1:
        scaled = scaled / peak
    return np.minimum(np.maximum(scaled, 0.0), 1.0)


def _widen_thin_strokes(crop: np.ndarray, factor: int) -> np.ndarray:
    """Widen strokes narrower than `factor` pixels to about `factor` beside thicker ones, before a reduction
    by `factor`.

    Averaging `factor` pixels into one leaves a 1-px hairline beside a thick
    stroke at 1/`factor` of its strength, and restoring full strength by the
    peak cannot bring it back: the thick stroke sets the peak. The white
    top-hat (the ink minus its opening) holds exactly the strokes narrower than
    `factor`; widening them alone keeps thick strokes as they are. A digit
    whose strokes are all thin (a fine pen) is left alone, since restoring
    the peak brings all of them back, and so is an MNIST digit, read at about
    its own size.
    """
    if factor < 2 or min(crop.shape) < factor:
        return crop
    from scipy import ndimage  # imported on first use, as `_find_ink` imports SciPy

    inked = crop[crop > 0]
    if np.count_nonzero((inked > 0.1) & (inked < 0.9)) < BILEVEL_GREYS * inked.size:
        return crop  # a bilevel (1-bit) scan: its dithered edges are dots that widening would blot
    opened = ndimage.grey_opening(crop, size=(factor, factor))
    total = float(crop.sum())
    thin = crop - opened
    if float(opened.sum()) < THICK_SHARE * total or float(thin.sum()) < THIN_SHARE * total:
        return crop  # one kind of stroke only: thin all over, or thick with a thin edge
    return np.asarray(np.maximum(crop, ndimage.maximum_filter(thin, size=(factor, factor))))


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place the digit in a 28x28 field with its centre of mass at pixel (14, 14), as MNIST does."""
    field = np.zeros((OUTPUT_SIZE, OUTPUT_SIZE), dtype=np.float32)
    height, width = digit.shape
    total = float(digit.sum())
    if total <= 0:
        raise Rule.BLANK.refusal()
    cy = float((digit.sum(axis=1) * np.arange(height)).sum() / total)
    cx = float((digit.sum(axis=0) * np.arange(width)).sum() / total)
    top = min(max(round(OUTPUT_SIZE / 2 - cy), 0), OUTPUT_SIZE - height)
    left = min(max(round(OUTPUT_SIZE / 2 - cx), 0), OUTPUT_SIZE - width)
    field[top : top + height, left : left + width] = digit
    return field
