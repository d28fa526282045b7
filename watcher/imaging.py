"""Open any image a scanner or phone produces and normalise it to the model's 28x28 input.

MNIST was made by cropping each digit to its ink, scaling the longest side
to 20 pixels with anti-aliasing and placing it in a 28x28 field so that its
centre of mass sits in the middle, white ink on black. This module does the
same to a scan or photo, after deciding which side is ink, removing the paper
level and uneven lighting, and dropping specks. Training runs MNIST itself
through `normalise_array`, so training and inference see the same pixels.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from watcher.loading import ImageError, decode_image, load_image, read_image_bytes

# Bump whenever the pixels this module produces change; models record it.
NORMALISATION_VERSION = 1

OUTPUT_SIZE = 28  # pixels, MNIST field
DIGIT_BOX = 20  # pixels, longest side of the digit inside the field
WORKING_SIDE = 1024  # pixels: larger images are reduced first; a digit needs far less
MIN_CONTRAST = 0.08  # ink must differ from paper by this much (0..1) to count as ink


@dataclass(frozen=True)
class Ink:
    """Where the ink lies in a working-resolution image."""

    strength: np.ndarray  # float32 HxW, 0 = paper, 1 = full ink
    mask: np.ndarray  # bool HxW, the components kept as the digit


@dataclass(frozen=True)
class Prepared:
    """A file read once: its content hash, and its normalised digit or why there is none."""

    sha256: str
    digit: np.ndarray | None = None
    error: ImageError | None = None


def normalise_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Load an image file and return the model's 28x28 float32 input (see `normalise_array`)."""
    return normalise_array(load_image(path))


def prepare_file(path: str | os.PathLike[str]) -> Prepared:
    """Read a file once, hash it and normalise it; never raises for a bad image."""
    try:
        data = read_image_bytes(path)
    except ImageError as exc:
        return Prepared(sha256="", error=exc)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        return Prepared(sha256=sha256, digit=normalise_array(decode_image(data)))
    except ImageError as exc:
        return Prepared(sha256=sha256, error=exc)


def normalise_array(pixels: np.ndarray) -> np.ndarray:
    """Turn a grey or RGB float image in [0, 1] into a 28x28 float32 MNIST-style digit.

    Raises ImageError(kind="no_digit") when the image holds no ink or no
    digit-shaped ink (a blank page, pure noise, a ruled line).
    """
    pixels = _reduce_to_working_size(np.asarray(pixels, dtype=np.float32))
    ink = find_ink(pixels)
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
    trimmed = pixels[: new_h * factor, : new_w * factor]
    shape = (new_h, factor, new_w, factor) + pixels.shape[2:]
    return trimmed.reshape(shape).mean(axis=(1, 3), dtype=np.float32)


def find_ink(pixels: np.ndarray) -> Ink:
    """Separate ink from paper: polarity, background level and lighting, noise and specks."""
    grey = pixels if pixels.ndim == 2 else pixels @ np.float32([0.299, 0.587, 0.114])
    dark_ink = _ink_is_darker(grey)
    channels = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(3)]
    # Ink strength is the largest departure from the local paper in any channel,
    # so blue or red ink on grey paper counts as fully as black ink on white.
    strength = np.zeros(grey.shape, dtype=np.float32)
    for channel in channels:
        paper = _paper_level(channel, dark_ink=dark_ink)
        departure = paper - channel if dark_ink else channel - paper
        np.maximum(strength, departure, out=strength)
    return _clean_ink(strength)


def _ink_is_darker(grey: np.ndarray) -> bool:
    """Decide polarity: paper is the majority level, ink the farther tail."""
    low, median, high = np.percentile(grey, [1, 50, 99])
    return bool((median - low) >= (high - median))


def _paper_level(channel: np.ndarray, *, dark_ink: bool) -> np.ndarray | np.float32:
    """Estimate the paper level: one number, or a smooth map when lighting is uneven."""
    paper_percentile = 75 if dark_ink else 25
    level = np.float32(np.percentile(channel, 50))
    height, width = channel.shape
    if min(height, width) < 48:
        return level  # too small for uneven lighting to matter, and MNIST passes through
    # Coarse map: each cell's paper-side percentile, smoothed across neighbours
    # with a median so that cells covered by a thick stroke borrow from the paper around them.
    cells = 16
    cell_h, cell_w = height // cells, width // cells
    blocks = channel[: cell_h * cells, : cell_w * cells].reshape(cells, cell_h, cells, cell_w)
    grid = np.percentile(blocks.transpose(0, 2, 1, 3).reshape(cells, cells, -1), paper_percentile, axis=2)
    grid = grid.astype(np.float32)
    grid = ndimage.median_filter(grid, size=5, mode="nearest")
    if float(grid.max() - grid.min()) < 0.06:
        return level  # even lighting: a single level keeps faint strokes intact
    zoom = (height / cells, width / cells)
    return ndimage.zoom(grid, zoom, order=1, mode="nearest", grid_mode=True)[:height, :width]


def _clean_ink(strength: np.ndarray) -> Ink:
    """Stretch ink to [0, 1], suppress the noise floor and keep the digit's components."""
    strength = np.clip(strength, 0.0, None)
    peak = float(np.percentile(strength, 99.5))
    if peak < MIN_CONTRAST:
        raise ImageError("no ink: the image is blank or too faint", kind="no_digit")
    threshold = _otsu_threshold(strength, peak)
    mask = _digit_components(strength >= threshold)
    # The noise floor is measured on paper well away from the strokes, so that the
    # grey anti-aliased edges of a clean digit are not mistaken for noise.
    paper = ~ndimage.binary_dilation(strength >= threshold, iterations=3)
    noise = float(np.percentile(strength[paper], 90)) if paper.any() else 0.0
    floor = min(2.0 * noise, 0.5 * threshold)
    stretched = np.clip((strength - floor) / max(peak - floor, 1e-6), 0.0, 1.0)
    # Keep the soft edge around kept strokes so the scaled digit has grey, anti-aliased borders.
    near_kept = ndimage.binary_dilation(mask, iterations=2)
    return Ink(strength=(stretched * near_kept).astype(np.float32), mask=mask)


def _otsu_threshold(values: np.ndarray, peak: float) -> float:
    """Otsu's threshold over [0, peak], the level that best splits ink from paper."""
    hist, edges = np.histogram(np.clip(values, 0, peak), bins=64, range=(0.0, peak))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(max(centres[int(np.argmax(between))], 0.25 * peak))


def _digit_components(mask: np.ndarray) -> np.ndarray:
    """Keep connected ink components large enough to be part of the digit; drop specks."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ImageError("no ink: the image is blank or too faint", kind="no_digit")
    areas = np.bincount(labels.ravel())[1:]
    largest = int(areas.max())
    min_area = max(0.08 * largest, 0.0004 * mask.size)
    keep = np.flatnonzero(areas >= min_area) + 1
    if largest < max(4, 0.0002 * mask.size) or len(keep) == 0:
        raise ImageError("no digit: only specks of ink", kind="no_digit")
    if len(keep) > 12:
        raise ImageError("no digit: ink is scattered like noise", kind="no_digit")
    kept = np.isin(labels, keep)
    _check_digit_shape(kept)
    return kept


def _check_digit_shape(mask: np.ndarray) -> None:
    """Refuse ink whose extent no digit has: a ruled line, a page border, a frame."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if width > 2.5 * height:
        raise ImageError("no digit: ink is a wide horizontal stroke or line", kind="no_digit")
    fill = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean()
    if fill > 0.75 and min(height, width) > 8:
        raise ImageError("no digit: ink is a solid block", kind="no_digit")


def _crop_to_ink(ink: Ink) -> np.ndarray:
    """Cut the ink strength to the bounding box of the kept components, at full resolution."""
    rows = np.flatnonzero(ink.mask.any(axis=1))
    cols = np.flatnonzero(ink.mask.any(axis=0))
    return ink.strength[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Scale the longest side to 20 pixels with anti-aliasing, keeping the aspect ratio."""
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(crop, mode="F").resize(new_size, resample), np.float32)
    peak = float(scaled.max())
    # Thin pens shrink to faint grey lines; restore full strength as MNIST's strokes have.
    if 0 < peak < 1:
        scaled = scaled / peak
    return np.clip(scaled, 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place the digit in a 28x28 field with its centre of mass at pixel (14, 14), as MNIST does."""
    field = np.zeros((OUTPUT_SIZE, OUTPUT_SIZE), dtype=np.float32)
    height, width = digit.shape
    total = float(digit.sum())
    if total <= 0:
        raise ImageError("no ink: the image is blank or too faint", kind="no_digit")
    cy = float((digit.sum(axis=1) * np.arange(height)).sum() / total)
    cx = float((digit.sum(axis=0) * np.arange(width)).sum() / total)
    top = int(np.clip(round(OUTPUT_SIZE / 2 - cy), 0, OUTPUT_SIZE - height))
    left = int(np.clip(round(OUTPUT_SIZE / 2 - cx), 0, OUTPUT_SIZE - width))
    field[top : top + height, left : left + width] = digit
    return field
