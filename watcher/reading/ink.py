"""Find the digit's ink in a scan or photo.

Steps: decide which side is ink (darker or lighter than the paper); model the
paper as a smooth surface so uneven lighting cancels out; measure the paper's
noise and set the ink threshold well above it; then keep the connected
strokes that form the digit, dropping specks, ruled lines, page borders and
form boxes. Raises ImageError(kind=Status.NO_DIGIT) when nothing digit-like is left, under one of
the rules of `watcher.reading.rules`.
On a page whose ink covers too little of it for that, `find_ink_spot` still
says where the ink is, so that a small digit can be read again closer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from watcher.reading.rules import Rule

MIN_CONTRAST = 0.08  # ink must differ from paper by this much (0..1) to count as ink
NOISE_SIGMAS = 4.0  # the ink threshold stays this many noise deviations above the paper
UNEVEN_LIGHTING = 0.06  # paper brightness range above which the lighting surface is used
SMALL_SIDE = 48  # pixels, longer side: below it (MNIST is 28) there is no lighting or noise to model
FIT_SIDE = 32  # pixels: the lighting surface is fitted on a copy this small
FIT_ACROSS = 16  # pixels: ... but the copy keeps at least this many across a narrow page
EDGE = 2  # pixels of soft stroke edge kept around the selected strokes
# Growing by a cross EDGE times is growing once by this diamond (one pass: half the time).
EDGE_SHAPE = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), EDGE)
SPOT_CONTRAST = 0.05  # ink strength that marks a spot of ink in a reduced reading, where strokes are diluted
SPOT_MARGIN = 1.0  # a spot of ink is widened by this many times its size each way
SPOT_SHARE = 0.5  # of all the ink showing on the page: a widened spot holding less is not a lone digit
SPOT_LARGEST = 0.25  # of the page's longer side: a larger patch of ink is not a small digit
FAINT_SHARE = 0.1  # of the peak ink strength: a line this faint is kept where it joins strong ink
RIDGE_MARGIN = 0.5  # of that level: how far a line stands above the pixels two steps away on both sides
HALO = 3  # pixels around strong ink that are its soft edge, not ink a digit could leave out
SAMPLE_PIXELS = 4096  # images with four times as many pixels have their levels estimated from a quarter


@dataclass(frozen=True)
class Ink:
    """The digit's ink, in the box of the working-resolution image that holds it."""

    strength: np.ndarray  # float32, 0 = paper, 1 = full ink, zero away from the digit's strokes
    mask: np.ndarray  # bool, same shape: the strokes kept as the digit
    kept_share: float = 1.0  # of the ink found around the digit, the share kept in its strokes


def find_ink(pixels: np.ndarray) -> Ink:
    """Separate the digit's ink from the paper in a grey (HxW) or colour (HxWx3) image in [0, 1]."""
    if min(pixels.shape[:2]) < 4:
        raise Rule.FEW_PIXELS.refusal()
    grey = pixels if pixels.ndim == 2 else pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    dark_ink = _ink_is_darker(grey)
    channels = pixels[..., None] if pixels.ndim == 2 else pixels
    return _clean_ink(_departure(channels, _paper_levels(channels, dark_ink=dark_ink), dark_ink=dark_ink))


def find_ink_spot(pixels: np.ndarray) -> tuple[slice, slice] | None:
    """Where on a page too little ink shows for `find_ink`: a box around the patch holding the most ink, or None.

    Meant for a page read reduced, where a small digit is a few diluted
    pixels: `find_ink` judges ink by its share of the page and misses it,
    while here a patch standing clear of the paper and its noise counts if
    it spans under SPOT_LARGEST of the page. The box is the patch widened by
    SPOT_MARGIN times its size each way, taking in strokes too faint to show;
    it must hold SPOT_SHARE of all the ink that shows, since a small digit is
    the one place on its page where ink stands out, while noise, ruling or
    grain stand out all over. Polarity is the side with the stronger extreme:
    the percentiles `find_ink` decides by see only paper.
    """
    if min(pixels.shape[:2]) < 4:
        return None
    channels = pixels[..., None] if pixels.ndim == 2 else pixels
    levels = _paper_levels(channels, dark_ink=True)
    darker = _departure(channels, levels, dark_ink=True)
    lighter = _departure(channels, levels, dark_ink=False)
    departure = darker if darker.max() >= lighter.max() else lighter
    above = departure >= max(SPOT_CONTRAST, NOISE_SIGMAS * _noise_level(departure))
    labels, count = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    mass = ndimage.sum_labels(departure, labels, np.arange(1, count + 1))
    patch = ndimage.find_objects(labels)[int(np.argmax(mass))]
    size = max(patch[0].stop - patch[0].start, patch[1].stop - patch[1].start)
    if size > SPOT_LARGEST * max(departure.shape):
        return None  # ink this large is for `find_ink` to judge, and it has
    box = _widened(patch, max(2, round(SPOT_MARGIN * size)), departure.shape)
    return box if float(departure[box][above[box]].sum()) >= SPOT_SHARE * float(mass.sum()) else None


def _departure(channels: np.ndarray, levels: list[np.ndarray | np.float32], *, dark_ink: bool) -> np.ndarray:
    """How far each pixel departs from the paper towards the ink (HxWxC in, HxW out).

    Ink is the largest departure in any channel, so blue or red ink on grey
    paper counts as fully as black ink on white.
    """
    departure: np.ndarray | None = None
    for index, paper in enumerate(levels):
        channel = channels[..., index]
        inkward = paper - channel if dark_ink else channel - paper
        departure = inkward if departure is None else np.maximum(departure, inkward, out=departure)
    if departure is None:  # an image with no channels at all
        raise Rule.NO_CHANNELS.refusal()
    return departure


def _ink_is_darker(grey: np.ndarray) -> bool:
    """Decide polarity: paper is the majority level, ink the farther tail."""
    low, median, high = _percentiles(_sample(grey), (1, 50, 99))
    return bool((median - low) >= (high - median))


def _paper_levels(channels: np.ndarray, *, dark_ink: bool) -> list[np.ndarray | np.float32]:
    """Each channel's paper level (HxWxC in): one number, or a fitted quadratic surface when lighting is uneven.

    A quadratic cannot follow a pen stroke, however thick, so strokes are never
    mistaken for paper; a robust refit drops the ink pixels (ink in any
    channel) from the fit. All channels are fitted together, on a small copy.
    """
    count = channels.shape[2]
    small = _shrink(channels, FIT_SIDE) if max(channels.shape[:2]) >= SMALL_SIDE else channels[:0]
    if min(small.shape[:2]) < 3:  # too small for uneven lighting to matter, or a strip
        return [np.float32(_median(channels[..., c])) for c in range(count)]
    basis = _quadratic_basis(small.shape[:2])
    values = small.reshape(-1, count)
    # Start from the pixels on the paper side of Otsu's split, then refit robustly.
    paper = np.ones(len(values), dtype=bool)
    for c in range(count):
        low = values[:, c].min()
        split = _otsu_threshold(values[:, c] - low, float(np.ptp(values[:, c])) + 1e-6) + low
        paper &= values[:, c] >= split if dark_ink else values[:, c] <= split
    for _ in range(3):
        if paper.sum() < 2 * basis.shape[1]:
            paper = np.ones_like(paper)  # a flat page: every pixel is paper
        fit_on = basis[paper]
        coef = np.linalg.solve(fit_on.T @ fit_on + 1e-6 * np.eye(fit_on.shape[1]), fit_on.T @ values[paper])
        fitted = basis @ coef
        inkward = fitted - values if dark_ink else values - fitted
        spread = 1.4826 * np.array([_median(np.abs(inkward[paper, c])) for c in range(count)]) + 1e-3
        paper = (inkward < 2.5 * spread).all(axis=1)
    levels: list[np.ndarray | np.float32] = []
    for c in range(count):
        if float(np.ptp(fitted[:, c])) < UNEVEN_LIGHTING:
            levels.append(np.float32(_median(values[paper, c])))  # even lighting: one level keeps faint strokes intact
        else:
            levels.append(_quadratic_surface(coef[:, c], channels.shape[:2]))
    return levels


def _shrink(channels: np.ndarray, side: int) -> np.ndarray:
    """Area-average an HxW or HxWxC float32 array by a whole factor so its longer side is about `side` pixels,
    keeping at least FIT_ACROSS pixels across its shorter side.

    On a narrow page a thick stroke (a marker 1 filling it) spans half the width:
    shrunk to a few columns, every column mixes ink and paper, and a quadratic
    fitted to them follows the stroke and calls it shadow.
    """
    factor = max(1, min(int(np.ceil(max(channels.shape[:2]) / side)), min(channels.shape[:2]) // FIT_ACROSS))
    height, width = channels.shape[0] // factor, channels.shape[1] // factor
    if channels.ndim == 2:
        if height == 0 or width == 0:
            return np.zeros((height, width), np.float32)  # a strip thinner than one block
        whole = channels[: height * factor, : width * factor]
        return np.asarray(Image.fromarray(np.ascontiguousarray(whole), mode="F").reduce(factor))
    # Pillow averages a float channel several times faster than numpy's mean over two axes.
    return np.stack([_shrink(channels[..., c], side) for c in range(channels.shape[2])], axis=2)


@lru_cache(maxsize=256)
def _quadratic_basis(shape: tuple[int, int]) -> np.ndarray:
    """Columns 1, x, y, x², xy, y² over a grid spanning [-1, 1] in both directions (read-only, shared)."""
    y = np.repeat(np.linspace(-1, 1, shape[0], dtype=np.float32), shape[1])
    x = np.tile(np.linspace(-1, 1, shape[1], dtype=np.float32), shape[0])
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    basis.flags.writeable = False
    return basis


def _quadratic_surface(coef: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The quadratic with coefficients for 1, x, y, x², xy, y² (see `_quadratic_basis`) over a grid of `shape`."""
    y = np.linspace(-1, 1, shape[0], dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, shape[1], dtype=np.float32)[None, :]
    c = coef.astype(np.float32)
    # Grouped as (c0 + c2 y + c5 y²) + x (c1 + c3 x + c4 y): two HxW operations instead of a HWx6 product.
    return np.asarray((c[0] + y * (c[2] + c[5] * y)) + x * ((c[1] + c[3] * x) + c[4] * y))


def _clean_ink(departure: np.ndarray) -> Ink:
    """Threshold well above the paper's noise, keep the digit's strokes, stretch ink to [0, 1]."""
    large = max(departure.shape) >= SMALL_SIDE
    # Smoothing before thresholding joins a stroke's pixels and averages grain away.
    smooth = ndimage.gaussian_filter(departure, 1.0) if large else departure
    strength = np.maximum(smooth, 0.0)  # ufuncs: np.clip costs several microseconds more per call
    # Levels are estimated from every other pixel of every other row: as exact, four times cheaper.
    noise = _noise_level(_sample(smooth))
    peak = float(_percentiles(_sample(strength), (99.5,))[0])
    if peak < max(MIN_CONTRAST, NOISE_SIGMAS * noise):
        raise Rule.BLANK.refusal()
    threshold = max(_otsu_threshold(_sample(strength), peak), 0.25 * peak, NOISE_SIGMAS * noise)
    faint = max(FAINT_SHARE * peak, NOISE_SIGMAS * noise)
    strong = strength >= threshold
    strokes, box = select_digit_strokes(_hysteresis(strength, strong, faint))
    kept_share = _kept_share(strength, faint, strong, strokes, box)
    raw_noise = _noise_level(_sample(departure)) if large else 0.0
    floor = min(2.5 * raw_noise, 0.5 * threshold)
    # Only the strokes and the soft edge around them can carry ink, so work in their box alone.
    wide = _widened(box, EDGE, departure.shape)
    mask = np.zeros((wide[0].stop - wide[0].start, wide[1].stop - wide[1].start), dtype=bool)
    mask[
        box[0].start - wide[0].start : box[0].stop - wide[0].start,
        box[1].start - wide[1].start : box[1].stop - wide[1].start,
    ] = strokes
    departure = departure[wide]
    stretched = np.minimum(np.maximum(departure - floor, 0.0) / max(peak - floor, 1e-6), 1.0)
    # Keep the soft edge around kept strokes so the scaled digit has grey, anti-aliased borders.
    near_kept = ndimage.binary_dilation(mask, structure=EDGE_SHAPE)
    return Ink(strength=(stretched * near_kept).astype(np.float32), mask=mask, kept_share=kept_share)


def _kept_share(
    strength: np.ndarray, faint: float, strong: np.ndarray, strokes: np.ndarray, box: tuple[slice, slice]
) -> float:
    """The share of the ink around the digit (its box widened by a quarter of its size) that its `strokes`
    keep: ink at or above `faint`, less the soft edge within HALO pixels of the `strong` ink.

    Ink left out there is part of the digit taken for dust or noise, or a
    stroke too faint to join the rest: what is left may be a fragment.
    """
    margin = max(2, (max(box[0].stop - box[0].start, box[1].stop - box[1].start) + 3) // 4)
    around = _widened(box, margin, strength.shape)
    kept = np.zeros(strength.shape, dtype=bool)
    kept[box] = strokes
    edge = ndimage.maximum_filter(strong[around], size=2 * HALO + 1)
    left_out = (strength[around] >= faint) & ~edge & ~kept[around]
    kept_ink = float(strength[kept].sum())
    total = kept_ink + float(strength[around][left_out].sum())
    return kept_ink / total if total > 0 else 1.0


def _hysteresis(strength: np.ndarray, strong: np.ndarray, faint: float) -> np.ndarray:
    """The `strong` ink, with every faint line (at or above `faint`, see `_ridges`) that joins it.

    One threshold set by the thick strokes (Otsu's split sits between them and
    the paper) drops the hairlines of a high-contrast typeface and a fine pen's
    strokes beside a heavy one; kept whole, a 6 is not read as "(". A faint
    line counts only where it joins strong ink, so grain and dust on their own
    stay paper; and only a line counts, not the soft edge every stroke fades
    out with, which would make every stroke bolder.
    """
    lines = strong | ((strength >= faint) & _ridges(strength, RIDGE_MARGIN * faint))
    labels, count = ndimage.label(lines, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return strong
    touching = np.zeros(count + 1, dtype=bool)
    touching[labels[strong]] = True
    touching[0] = False
    return np.asarray(touching[labels])


def _ridges(strength: np.ndarray, margin: float) -> np.ndarray:
    """Pixels standing above both pixels two steps away in some direction, by more than `margin`: the
    middle of a line. A stroke's soft edge falls away on one side only, and so is no ridge."""
    height, width = strength.shape
    padded = np.pad(strength, 2, mode="edge")
    found = np.zeros(strength.shape, dtype=bool)
    for dy, dx in ((0, 2), (2, 0), (2, 2), (2, -2)):
        ahead = padded[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
        behind = padded[2 - dy : 2 - dy + height, 2 - dx : 2 - dx + width]
        found |= (strength > ahead + margin) & (strength > behind + margin)
    return found


def _sample(pixels: np.ndarray) -> np.ndarray:
    """Every other pixel of every other row of a large image (a view); a small one whole."""
    return pixels[::2, ::2] if pixels.size >= 4 * SAMPLE_PIXELS else pixels


def _widened(box: tuple[slice, slice], margin: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """A box widened by `margin` pixels on each side, within an image of `shape`."""
    return (
        slice(max(box[0].start - margin, 0), min(box[0].stop + margin, shape[0])),
        slice(max(box[1].start - margin, 0), min(box[1].stop + margin, shape[1])),
    )


def _percentiles(values: np.ndarray, percents: tuple[float, ...]) -> list[float]:
    """np.percentile's linear interpolation, with one partition for all of them (several times faster)."""
    flat = values.ravel()
    positions = [p / 100 * (flat.size - 1) for p in percents]
    lows = [int(np.floor(at)) for at in positions]
    kth = sorted({k for low in lows for k in (low, min(low + 1, flat.size - 1))})
    part = np.partition(flat, kth)
    return [
        float(part[low] + (at - low) * (part[min(low + 1, flat.size - 1)] - part[low]))
        for at, low in zip(positions, lows, strict=True)
    ]


def _median(values: np.ndarray) -> float:
    """np.median of all the values, by one partition (np.median's own checks cost several times that)."""
    return _percentiles(values, (50,))[0]


def _noise_level(departure: np.ndarray) -> float:
    """The paper's noise deviation, from pixels lighter than the paper level.

    Ink only ever departs one way, so the other side holds paper alone: half a
    normal distribution, whose median absolute value times 1.4826 is sigma.
    """
    paper_side = departure[departure < 0]
    return 1.4826 * -_median(paper_side) if paper_side.size else 0.0


def _otsu_threshold(values: np.ndarray, peak: float) -> float:
    """Otsu's threshold over [0, peak], the level that best splits ink from paper (64 bins)."""
    bins = np.minimum(np.maximum(values * (64.0 / peak), 0), 63).astype(np.intp).ravel()
    hist = np.bincount(bins, minlength=64)
    centres = (np.arange(64) + 0.5) * (peak / 64.0)
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    return float(centres[int(np.argmax(weight_low * weight_high * (mean_low - mean_high) ** 2))])


def select_digit_strokes(above: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Keep the connected components that make up the digit; raise no_digit if none do.

    Returns the kept strokes within the digit's box, and that box in `above`.
    """
    large = max(above.shape) >= SMALL_SIDE
    if large:
        above = _without_long_rows(above)
    labels, count = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise Rule.ONLY_LINES.refusal()
    areas = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    ruled = [large and _is_rule_or_frame(labels, i, boxes[i], areas[i]) for i in range(count)]
    candidates = [i for i in range(count) if not ruled[i]]
    if not candidates:
        raise Rule.ONLY_FRAMES.refusal()
    largest = max(areas[i] for i in candidates)
    keep = [i for i in candidates if areas[i] >= max(0.08 * largest, 0.0004 * above.size)]
    kept_area = sum(int(areas[i]) for i in keep)
    if largest < max(4, 0.0002 * above.size):
        raise Rule.SPECKS.refusal()
    if len(keep) > 12 or kept_area < 0.5 * sum(int(areas[i]) for i in candidates):
        raise Rule.SCATTERED.refusal()
    box = (
        slice(min(boxes[i][0].start for i in keep), max(boxes[i][0].stop for i in keep)),
        slice(min(boxes[i][1].start for i in keep), max(boxes[i][1].stop for i in keep)),
    )
    _check_digit_shape(box)
    kept = np.zeros(count + 1, dtype=bool)
    kept[np.asarray(keep) + 1] = True
    return kept[labels[box]], box


def _without_long_rows(above: np.ndarray) -> np.ndarray:
    """Erase horizontal runs of ink far wider than everything else: ruled lines crossing a digit.

    A run counts when it spans 60% of the page and the ink left without it
    spans under half the run's length; a tightly cropped 7 keeps its bar. The
    gap left where a stroke crossed the line is closed again by the soft edge.
    """
    if np.count_nonzero(above, axis=1).max() < 0.6 * above.shape[1]:
        return above  # no row holds enough ink for a long run: the common case, checked cheaply
    padded = np.pad(above, ((0, 0), (1, 1))).astype(np.int8)
    steps = np.diff(padded, axis=1)
    starts, ends = np.argwhere(steps == 1), np.argwhere(steps == -1)
    long_runs = (ends[:, 1] - starts[:, 1]) >= 0.6 * above.shape[1]
    if not long_runs.any():
        return above
    cleaned = above.copy()
    for (row, start), (_, end) in zip(starts[long_runs], ends[long_runs], strict=True):
        cleaned[row, start:end] = False
    cols = np.flatnonzero(cleaned.any(axis=0))
    rest = cols[-1] - cols[0] + 1 if cols.size else 0
    shortest = int((ends[long_runs, 1] - starts[long_runs, 1]).min())
    return cleaned if rest < 0.5 * shortest else above


def _is_rule_or_frame(labels: np.ndarray, index: int, box: tuple[slice, slice], area: int) -> bool:
    """A ruled line, an underline, a margin line, a page border or a form box, not a stroke."""
    height, width = labels.shape
    box_h, box_w = box[0].stop - box[0].start, box[1].stop - box[1].start
    if box_w > 6 * box_h and box_w > 0.6 * width:
        return True  # a ruled line or long underline (a 5's or 7's detached bar is far shorter)
    if box_h >= 0.9 * height and box_h > 10 * box_w and box_w < 0.05 * width:
        return True  # a margin line from top to bottom of the page
    if box_h > 0.3 * height and box_w > 0.3 * width and area < 0.3 * box_h * box_w:
        own = labels[box] == index + 1
        band = max(2, min(box_h, box_w) // 20)
        sides = [own[:band].any(axis=0), own[-band:].any(axis=0), own[:, :band].any(axis=1), own[:, -band:].any(axis=1)]
        return bool(np.mean([side.mean() for side in sides]) > 0.6)  # inked along its whole outline: a box
    return False


def _check_digit_shape(box: tuple[slice, slice]) -> None:
    """Refuse ink whose extent no digit has: a wide dash or a ruled line's stub.

    A solid block is left to the model (trained on blots as non-digits): a rule
    here refused thick marker 1s and 8s, which are nearly solid too.
    """
    height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
    if width > 2.5 * height:
        raise Rule.WIDE_STROKE.refusal()
