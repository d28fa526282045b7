"""The pictures the review page shows: a file's thumbnail and the 28x28 image the model read."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from watcher.reading.documents import on_page
from watcher.reading.imaging import normalise_page
from watcher.reading.loading import ImageError, PageReader, read_image_bytes

THUMBNAIL_SIDE = 200  # pixels, longer side of a file's thumbnail
T = TypeVar("T")
INPUT_SCALE = 4  # the 28x28 model input is shown this many times larger, each pixel a square


class Picture(StrEnum):
    """Which picture of a row the page asks for (the `kind` of /image)."""

    ORIGINAL = "original"  # the file, or its page, as a thumbnail
    INPUT = "input"  # the 28x28 image the model read


class PictureError(Exception):
    """No picture: the file is gone, changed since its row, or cannot be read."""


def file_data(path: Path, sha256: str) -> bytes:
    """The file's bytes, when they are still what its row was read from."""
    try:
        data = read_image_bytes(path)
    except ImageError as exc:
        raise PictureError(exc.reason) from exc
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise PictureError("the file changed since this row was written")
    return data


def thumbnail_png(data: bytes, page: int | None) -> bytes:
    """The file (its page, for a document) as a PNG, its longer side THUMBNAIL_SIDE at most."""
    pixels, _ = _on_page(data, page, lambda reader: reader.read(THUMBNAIL_SIDE))
    if pixels.ndim == 3:
        return _png(pixels[..., :3], "RGB")
    return _png(pixels, "L")


def model_input_png(data: bytes, page: int | None) -> bytes:
    """The 28x28 image the model reads from the file (its page), white ink on black, enlarged."""
    digit = _on_page(data, page, normalise_page)
    return _png(np.kron(digit, np.ones((INPUT_SCALE, INPUT_SCALE), np.float32)), "L")


def _on_page(data: bytes, page: int | None, work: Callable[[PageReader], T]) -> T:
    """`documents.on_page`, its failures as PictureError."""
    try:
        return on_page(data, page, work)
    except ImageError as exc:
        raise PictureError(exc.reason) from exc


def _png(pixels: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode=mode).save(buffer, "PNG")
    return buffer.getvalue()
