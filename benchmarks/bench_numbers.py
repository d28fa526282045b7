"""Benchmark: whole numbers written in one field, read as strings (issue 25).

Usage: python benchmarks/bench_numbers.py [--data MNIST] [--per-length N] [--seed S] [--model PATH]

Renders `--per-length` strings of each length 1-8 from MNIST *test* digits
(`number_render`: gaps from overlapping to wide, size and baseline jitter,
leading zeros) in scan conditions of `scan_render`, and reads each with the
reader named below. Prints exact-string accuracy, the share wrong but `ok`,
the flagged share, per length and per condition, and numbers per second.

Two yardsticks read them (`--reader`), both segmentation feeding the shipped
digit model, the first option the issue names:

- `components`: the field's ink split into connected components (pieces
  whose columns overlap are one digit, as the hat of a 5), each normalised by
  the product's own `normalise_array` and read as one digit; `ok` only when
  every digit is sure and no piece is wide enough to hold two digits.
- `split` (the default): a piece wider than a digit is cut at the dips of
  its column profile, each candidate part scored by the model's log-probability, and the
  count of digits whose parts score best on average is kept (dynamic
  programming per count); `ok` only when every digit is sure and that count
  beats the next by a margin.

They measure how far plain segmentation gets, for the method the issue asks
to choose by measurement; neither is that method.
"""

from __future__ import annotations

import io
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from number_render import NumberSample, number_samples
from watcher.model.classifier import Classifier, default_model_path
from watcher.reading.imaging import normalise_array

CONDITIONS = [
    "clean scan, white paper, grey PNG",
    "grey paper (0.60-0.85), grey PNG",
    "phone: blue ballpoint, grey paper, JPEG",
    "JPEG file, grey, q75-95",
    "pencil (light grey strokes), PNG",
    "rotated 5-10 degrees",
]
TOUCHING_WIDTH = 1.25  # a piece wider than this many times the field's digit height may be two digits
SPECK_SHARE = 0.02  # of the largest piece's ink: smaller pieces are specks, not digits
WORKING_HEIGHT = 64  # pixels: fields are read at this height


class Reader(StrEnum):
    """How a group of touching ink is read: as one digit, or cut where the model reads the parts best."""

    COMPONENTS = "components"
    SPLIT = "split"


@dataclass(frozen=True)
class Reading:
    """A field read as a string: the digits, whether it is sure, and each digit's confidence."""

    text: str
    ok: bool
    confidences: tuple[float, ...]


def read_number(data: bytes, classifier: Classifier, *, split: bool) -> Reading:
    """Components grouped by column overlap; each group read as one digit, or with `split` as 1-4 digits."""
    with Image.open(io.BytesIO(data)) as image:
        grey = np.asarray(image.convert("L"), np.float32) / 255.0
    factor = max(1, grey.shape[0] // WORKING_HEIGHT)
    if factor > 1:
        h, w = grey.shape[0] // factor, grey.shape[1] // factor
        grey = grey[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
    paper = float(np.median(grey))
    darkest = float(np.percentile(grey, 0.5))
    if paper - darkest < 0.08:  # no ink stands out of the paper
        return Reading("", False, ())
    ink = grey < paper - 0.5 * (paper - darkest)  # half-way from paper to the darkest ink
    labels, count = ndimage.label(ink, structure=np.ones((3, 3)))
    boxes = ndimage.find_objects(labels)
    sizes = ndimage.sum_labels(ink, labels, range(1, count + 1))
    pieces = [(box, size) for box, size in zip(boxes, sizes, strict=True) if size >= SPECK_SHARE * max(sizes)]
    groups: list[list[slice]] = []  # [row slice, column slice] merged along columns
    for box, _ in sorted(pieces, key=lambda piece: piece[0][1].start):
        rows, cols = box
        if groups and cols.start < groups[-1][1].stop - 0.3 * (cols.stop - cols.start):
            last = groups[-1]
            groups[-1] = [
                slice(min(last[0].start, rows.start), max(last[0].stop, rows.stop)),
                slice(last[1].start, max(last[1].stop, cols.stop)),
            ]
        else:
            groups.append([rows, cols])
    if not groups:
        return Reading("", False, ())
    height = float(np.median([g[0].stop - g[0].start for g in groups]))
    paper = float(np.median(grey))
    texts, confidences, sure = [], [], True
    for rows, cols in groups:
        crop = np.where(labels[rows, cols] > 0, grey[rows, cols], paper)
        found = _read_group(crop, height, paper, classifier) if split else _read_whole(crop, paper, classifier)
        if found is None:
            return Reading("", False, ())
        texts.append(found.text)
        confidences.extend(found.confidences)
        sure &= found.ok
        if not split:
            sure &= (cols.stop - cols.start) <= TOUCHING_WIDTH * height
    return Reading("".join(texts), sure, tuple(confidences))


MAX_DIGITS_IN_GROUP = 4
NARROWEST, WIDEST = 0.15, 1.3  # a digit's width against the field's digit height ("1" is narrow)
SPLIT_MARGIN = 1.0  # nats of mean log-probability by which the chosen count must beat the next


def _normalised(crop: np.ndarray, paper: float) -> np.ndarray | None:
    try:
        return normalise_array(np.pad(crop, 4, constant_values=paper))
    except Exception:  # the product refuses it: no digit-shaped ink in this piece
        return None


def _read_whole(crop: np.ndarray, paper: float, classifier: Classifier) -> Reading | None:
    digit = _normalised(crop, paper)
    if digit is None:
        return None
    (p,) = classifier.probabilities(digit[None])
    return Reading(str(int(p.argmax())), float(p.max()) >= classifier.uncertain_below, (float(p.max()),))


CUT_WINDOW = 0.06  # of the digit height: a cut candidate is the thinnest column within this many columns


def _cut_candidates(ink: np.ndarray, height: float) -> list[int]:
    """Where a group may be cut: the columns with the least ink in their neighbourhood (local minima of the
    column profile), and both ends. Touching digits meet where the profile dips."""
    profile = ink.sum(axis=0).astype(np.float32)
    width = len(profile)
    reach = max(1, round(CUT_WINDOW * height))
    padded = np.pad(profile, reach, constant_values=np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1)
    minima = np.flatnonzero(profile <= windows.min(axis=1))
    keep = [int(c) for c in minima if NARROWEST * height / 2 <= c <= width - NARROWEST * height / 2]
    return sorted({0, width, *keep})


def _read_group(crop: np.ndarray, height: float, paper: float, classifier: Classifier) -> Reading | None:
    """Read a group as 1-4 digits: try cuts at every few columns, score each piece by the model's
    log-probability, keep the count whose pieces score best on average (dynamic programming per count)."""
    width = crop.shape[1]
    if width <= WIDEST * height:
        return _read_whole(crop, paper, classifier)
    cuts = _cut_candidates(crop < paper - 0.02, height)
    spans = [
        (a, b)
        for i, a in enumerate(cuts)
        for b in cuts[i + 1 :]
        if NARROWEST * height <= b - a <= WIDEST * height or (a, b) == (0, width)
    ]
    normalised = {span: _normalised(crop[:, span[0] : span[1]], paper) for span in spans}
    usable = [span for span, digit in normalised.items() if digit is not None]
    if not usable:
        return None
    probabilities = classifier.probabilities(np.stack([normalised[span] for span in usable]))
    score = {span: float(np.log(p.max() + 1e-9)) for span, p in zip(usable, probabilities, strict=True)}
    best_of = {span: p for span, p in zip(usable, probabilities, strict=True)}
    # best[k][cut] = (total log-probability, path) of k pieces ending at cut
    best: list[dict[int, tuple[float, list[tuple[int, int]]]]] = [{0: (0.0, [])}]
    for _ in range(MAX_DIGITS_IN_GROUP):
        step_best: dict[int, tuple[float, list[tuple[int, int]]]] = {}
        for (a, b), value in score.items():
            if a in best[-1]:
                total = best[-1][a][0] + value
                if b not in step_best or total > step_best[b][0]:
                    step_best[b] = (total, [*best[-1][a][1], (a, b)])
        best.append(step_best)
    ranked = sorted(((best[k][width][0] / k, k) for k in range(1, len(best)) if width in best[k]), reverse=True)
    if not ranked:
        return None
    (mean, count), runner_up = ranked[0], ranked[1][0] if len(ranked) > 1 else -np.inf
    path = best[count][width][1]
    chosen = [best_of[span] for span in path]
    confidences = tuple(float(p.max()) for p in chosen)
    ok = all(c >= classifier.uncertain_below for c in confidences) and mean - runner_up >= SPLIT_MARGIN / count
    return Reading("".join(str(int(p.argmax())) for p in chosen), ok, confidences)


def main(
    data: Annotated[Path, typer.Option(help="MNIST .npz (its test digits are drawn)")] = Path(
        "../shared/data/mnist.npz"
    ),
    per_length: Annotated[int, typer.Option(help="strings of each length 1-8")] = 200,
    seed: Annotated[int, typer.Option()] = 0,
    model: Annotated[Path | None, typer.Option(help="default: the shipped model")] = None,
    reader: Annotated[Reader, typer.Option(help="split (recognition-driven cuts) or components")] = Reader.SPLIT,
) -> None:
    """Print the number benchmark's tables."""
    print(f"reader: {reader.value}")
    with np.load(data) as mnist:
        images, labels = mnist["x_test"], mnist["y_test"]
    classifier = Classifier(model or default_model_path())
    samples = list(
        number_samples(images, labels, lengths=range(1, 9), per_length=per_length, conditions=CONDITIONS, seed=seed)
    )
    started = time.perf_counter()
    readings = [read_number(sample.rendered.data, classifier, split=reader is Reader.SPLIT) for sample in samples]
    elapsed = time.perf_counter() - started
    print(f"{len(samples)} fields, {len(samples) / elapsed:.0f} numbers/s (one process, reading and model)")
    _table("length", samples, readings, key=lambda sample: str(len(sample.text)))
    _table("condition", samples, readings, key=lambda sample: sample.condition)
    split = Counter(
        "too few pieces (touching digits)"
        if len(r.text) < len(s.text)
        else "too many pieces (a digit broken)"
        if len(r.text) > len(s.text)
        else "right count, a digit misread"
        for s, r in zip(samples, readings, strict=True)
        if r.text != s.text
    )
    print("\nwhy strings were wrong: " + "; ".join(f"{why} {n}" for why, n in split.most_common()))
    mid = [(s, r) for s, r in zip(samples, readings, strict=True) if 2 <= len(s.text) <= 6]
    _table("2-6 digits", [s for s, _ in mid], [r for _, r in mid], key=lambda sample: "all")


def _table(
    title: str, samples: list[NumberSample], readings: list[Reading], *, key: Callable[[NumberSample], str]
) -> None:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for sample, reading in zip(samples, readings, strict=True):
        tally = counts[key(sample)]
        tally["n"] += 1
        tally["right"] += reading.text == sample.text
        tally["wrong_ok"] += reading.ok and reading.text != sample.text
        tally["flagged"] += not reading.ok
    print(f"\n{title:<42} {'n':>5} {'exact':>8} {'wrong-ok':>9} {'flagged':>8}")
    for name, tally in counts.items():
        n = tally["n"]
        print(
            f"{name:<42} {n:>5} {tally['right'] / n:>8.2%} {tally['wrong_ok'] / n:>9.2%} {tally['flagged'] / n:>8.2%}"
        )


if __name__ == "__main__":
    typer.run(main)
