"""Open any image file a scanner or phone produces as a float array, safely.

Every mode Pillow knows (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F) becomes
float32 in [0, 1]: EXIF orientation applied, one frame of multi-frame
files (the first, unless a page of a multi-page TIFF is asked for), transparency
flattened onto the paper (or white), 16-bit and float data scaled by
their range rather than clipped. HEIC and HEIF photos are read with pillow-heif,
once `watcher.reading.formats` has taught Pillow to.
Oversized files and decompression bombs are refused before any large allocation.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from watcher.protocol import Status

MAX_PIXELS = 40_000_000  # refuse larger images before decoding them (decompression bombs)
MAX_BYTES = 50 * 1024 * 1024  # refuse larger files without reading them
ORIENTATION = 0x0112  # the EXIF tag saying how the camera was held
DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # 16-bit, 32-bit and float: scaled by their range


class ImageError(Exception):
    """An image could not be read or holds no digit; `reason` says why in plain words."""

    def __init__(self, reason: str, *, kind: Status = Status.ERROR, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # ERROR: unreadable file; NO_DIGIT: readable, but no digit in it
        # False when reading it again cannot help, even while the file may still be growing: it is
        # already over a limit, or it hung or crashed its reader and a retry would only do so again.
        self.retry = retry


def read_image_bytes(path: str | os.PathLike[str], *, allow_empty: bool = False) -> bytes:
    """Read a file's bytes after checking it is not over MAX_BYTES (nor empty, unless allowed)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ImageError("not a regular file")  # a folder, or a pipe that would block a read
        if info.st_size == 0 and not allow_empty:
            raise ImageError("empty file (0 bytes)")
        if info.st_size > MAX_BYTES:
            raise ImageError(f"file too large: {info.st_size:,} bytes (limit {MAX_BYTES:,})", retry=False)
        with path.open("rb") as file:
            # Read one byte past the size seen, to notice growth; a file that grew
            # since the check is read on only up to one byte past MAX_BYTES.
            data = file.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += file.read(MAX_BYTES + 1 - len(data))
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
    if not data and not allow_empty:
        raise ImageError("empty file (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageError(f"file too large: it grew past {MAX_BYTES:,} bytes while being read", retry=False)
    return data


class PageReader(Protocol):
    """One page (an image file, a TIFF page, a PDF page), read at whatever reduction is asked for."""

    def read(self, max_side: int | None = None) -> tuple[np.ndarray, int]:
        """The page as float32 in [0, 1] (HxW or HxWx3), its longer side at most `max_side`;
        and its longer side in full."""
        ...

    def read_region(
        self, box: tuple[float, float, float, float], max_side: int | None = None
    ) -> tuple[np.ndarray, int]:
        """The part of the page inside `box` (left, top, right, bottom as fractions of the upright page),
        as `read` gives the whole page: its longer side at most `max_side`; and that side in full."""
        ...


class ImageReader:
    """One image file's bytes, read at one or more reductions without decoding it again.

    The decoded image is kept between readings, so a finer second reading
    only averages again. A JPEG is decoded at 1/2, 1/4 or 1/8 scale when the
    reading asked for allows it, and decoded again if a finer one follows.
    `frame` picks a page of a multi-page TIFF; other files are read at their first frame.
    """

    def __init__(self, data: bytes, frame: int = 0) -> None:
        self._data = data
        self._frame = frame
        self._image: Image.Image | None = None  # decoded and upright
        self._source_mode = ""  # the file's own mode, which says how to scale its values
        self._upright = (0, 0)  # width and height of the upright image in full
        self._scale = 1  # 1, or the JPEG draft scale the kept image was decoded at

    def read(self, max_side: int | None = None) -> tuple[np.ndarray, int]:
        """The image as float32 in [0, 1] (HxW or HxWx3), reduced by the whole factor that
        brings its longer side to `max_side` or below; and its longer side in full."""
        with _read_errors():
            image = self._image if self._image is not None else self._decode(max_side)
            factor = -(-max(self._upright) // max_side) if max_side else 1
            if self._scale > factor:  # a JPEG decoded too coarsely for this finer reading
                image = self._decode(max_side)
            if factor > 1:
                image = _reduced(image, factor, self._upright, self._scale)
            return _to_float_array(image, self._source_mode), max(self._upright)

    def read_region(
        self, box: tuple[float, float, float, float], max_side: int | None = None
    ) -> tuple[np.ndarray, int]:
        """The part of the image inside `box` (left, top, right, bottom as fractions of the upright image),
        reduced by the whole factor that brings its longer side to `max_side` or below; and that side in full.

        Only the region is converted and averaged, so a close look at a small
        part of a large photo costs little; a JPEG is decoded again only when
        the image kept is coarser than the region is asked for.
        """
        with _read_errors():
            kept = self._image if self._image is not None else self._decode(None)  # the full size is needed first
            width, height = self._upright
            left, top = min(max(int(box[0] * width), 0), width - 1), min(max(int(box[1] * height), 0), height - 1)
            right = min(max(int(np.ceil(box[2] * width)), left + 1), width)
            bottom = min(max(int(np.ceil(box[3] * height)), top + 1), height)
            side = max(right - left, bottom - top)
            factor = -(-side // max_side) if max_side else 1
            if self._scale > factor:  # a JPEG kept too coarse for this region
                kept = self._decode(-(-max(width, height) // factor))
            scale = self._scale
            # The kept image may be a JPEG decoded at a fraction of its size: crop in its own pixels.
            region = kept.crop((left // scale, top // scale, -(-right // scale), -(-bottom // scale)))
            region = region.convert(_averageable_mode(region))
            target = (-(-(right - left) // factor), -(-(bottom - top) // factor))
            if region.size != target:
                region = region.resize(target, Image.Resampling.BOX)
            return _to_float_array(region, self._source_mode), side

    def _decode(self, max_side: int | None) -> Image.Image:
        """Decode the file (at a JPEG draft scale when `max_side` allows), keep the upright image and return it."""
        # A TIFF page is sized on its own; a HEIC opens at its primary image, which need not be its first.
        with open_image(self._data, self._frame) as image:
            width, height = image.size
            self._source_mode = image.mode
            factor = -(-max(width, height) // max_side) if max_side else 1
            if factor > 1:
                # JPEG can decode at 1/2, 1/4 or 1/8 scale directly, far faster than in full.
                image.draft(image.mode, (-(-width // factor), -(-height // factor)))
            # Orientations 5 to 8 turn the picture a quarter: width and height swap.
            turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)
            image.load()
            self._upright = (height, width) if turned else (width, height)
            self._scale = round(max(width, height) / max(image.size))
            upright = ImageOps.exif_transpose(image) or image
            self._image = upright
            return upright


def too_large(width: int, height: int) -> str:
    """Why an image over MAX_PIXELS is refused."""
    return f"image too large: {width}x{height} pixels (limit {MAX_PIXELS:,})"


@contextmanager
def open_image(data: bytes, frame: int = 0) -> Iterator[Image.Image]:
    """The image (page `frame` of a TIFF) in `data`, opened but not decoded; refused over MAX_PIXELS by its header.

    Pillow refuses images over its own, higher, limit as it opens them, in
    words about a "decompression bomb DOS attack" that give no size; those get
    our reason too, as any image over MAX_PIXELS does. Pillow's warning is an
    error inside, for decoding as well.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open_frame(data, frame)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            with image_header(data, frame) as header:
                raise ImageError(too_large(*header.size), retry=False) from exc
        with image:
            if image.size[0] * image.size[1] > MAX_PIXELS:
                raise ImageError(too_large(*image.size), retry=False)
            yield image


def _open_frame(data: bytes, frame: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    try:
        if frame:
            image.seek(frame)
    except BaseException:
        image.close()
        raise
    return image


_PILLOWS_LIMIT = threading.Lock()  # held while Pillow's own limit is off in this process


@contextmanager
def image_header(data: bytes, frame: int = 0) -> Iterator[Image.Image]:
    """The image opened past Pillow's size limit, to read its header (size, pages) only: never decode it.

    Pillow keeps its limit in a module variable, so it is off for the whole
    process while the file is opened: another thread opening an image through
    `open_image` meanwhile meets our lower limit instead.
    """
    with _PILLOWS_LIMIT:
        kept = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = _open_frame(data, frame)
        finally:
            Image.MAX_IMAGE_PIXELS = kept
    with image:
        yield image


@contextmanager
def _read_errors() -> Iterator[None]:
    """Turn whatever Pillow raises for a bad file into an ImageError that says why."""
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's words ("decompression bomb DOS attack") give no size; a GIF frame past its limit lands here.
        raise ImageError(f"image too large (limit {MAX_PIXELS:,} pixels)", retry=False) from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not an image Pillow can identify") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from exc


def _reduced(image: Image.Image, factor: int, full_size: tuple[int, int], decoded_at: int) -> Image.Image:
    """Area-average the image to its full size (width, height, upright) divided by `factor`, rounded up.

    Done by Pillow on the 8-bit (or 32-bit) data before anything becomes
    float, so a large photo costs little more than a small one. The image may
    already be smaller than in full (`decoded_at` 2, 4 or 8: a JPEG decoded at
    that fraction); the result has the same size either way. Modes Pillow cannot average
    (bilevel, palette, 16-bit, CMYK) are widened first; alpha is averaged
    premultiplied, so clear pixels lend no colour to their neighbours.
    """
    target = (-(-full_size[0] // factor), -(-full_size[1] // factor))
    image = image.convert(_averageable_mode(image))
    if factor % decoded_at == 0 and factor > decoded_at:
        image = image.reduce(factor // decoded_at)  # whole factors: the fast path
    if image.size != target:
        image = image.resize(target, Image.Resampling.BOX)
    return image


def _averageable_mode(image: Image.Image) -> str:
    """The mode to average an image in without losing its transparency or depth."""
    if image.mode in DEEP_MODES:
        return "I" if image.mode != "F" else "F"
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode in ("1", "L", "LA"):
        return "LA" if transparent else "L"
    return "RGBA" if transparent else "RGB"


def _to_float_array(image: Image.Image, source_mode: str) -> np.ndarray:
    """Convert a decoded Pillow image of any mode to float32 in [0, 1].

    `source_mode` is the file's own mode, which says how to scale integer data
    even after averaging widened it (16-bit data is scaled by 65535, not 255).
    """
    mode = image.mode
    if mode in DEEP_MODES:
        values = np.asarray(image, dtype=np.float64)
        return _scale_by_range(values, source_mode).astype(np.float32)
    # PNG and GIF can mark one grey level, colour or palette entry transparent
    # ("transparency" in info) instead of carrying an alpha channel.
    keyed = mode in ("1", "L", "P", "RGB") and "transparency" in image.info
    if mode in ("RGBA", "LA", "PA") or keyed:
        return _grey_if_neutral(_composite(np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0))
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rgb = np.asarray(image.convert("RGB"))
    # Equal channels in the 8-bit data: a grey image saved as colour, read as one channel.
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0].astype(np.float32) / np.float32(255.0)
    return rgb.astype(np.float32) / np.float32(255.0)


def _composite(rgba: np.ndarray) -> np.ndarray:
    """Flatten an image with transparency onto its own paper.

    When fully opaque pixels make up much of the image they are the paper (a
    cut-out photo of a page) and clear pixels take the paper's median colour,
    so the cut edge does not read as a border; otherwise the opaque pixels
    are ink on clear film, laid onto white.
    """
    alpha = rgba[..., 3:4]
    opaque = alpha[..., 0] > 0.99
    paper = np.ones(3, np.float32)
    if opaque.mean() >= 0.3:
        paper = np.median(rgba[..., :3][opaque], axis=0).astype(np.float32)
    return np.asarray(rgba[..., :3] * alpha + paper * (1.0 - alpha))


def _scale_by_range(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale integer or float pixel data into [0, 1] by the range its values use."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        return values
    if mode in ("I", "F") and low >= 0.0 and high <= 255.0:
        return values / 255.0  # 8-bit data held as I or F (Pillow's convert("F") gives 0..255)
    if low >= 0.0 and high <= 65535.0:
        return values / 65535.0
    span = high - low
    return (values - low) / span if span > 0 else np.zeros_like(values)


def _grey_if_neutral(rgb: np.ndarray) -> np.ndarray:
    """Return a grey HxW array when the colour channels agree, else keep HxWx3."""
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    if float(spread.max(initial=0.0)) < 1.0 / 255.0:
        return np.ascontiguousarray(rgb[..., 0])
    return rgb
