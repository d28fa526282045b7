"""Benchmark: whole numbers written in one field, read as strings (issue 25).

Usage: python benchmarks/bench_numbers.py [--data MNIST] [--per-length N] [--seed S] [--model PATH]

Renders `--per-length` strings of each length 1-8 from MNIST *test* digits
(`number_render`: gaps from overlapping to wide, size and baseline jitter,
leading zeros) in scan conditions of `scan_render`, and reads each with the
reader named below. Prints exact-string accuracy, the share wrong but `ok`,
the flagged share, per length and per condition, and numbers per second.

The reader here is the first baseline the issue names, segmentation feeding
the shipped digit model: the field's ink is split into connected components
(pieces whose columns overlap are one digit, as the hat of a 5), each piece
is normalised by the product's own `normalise_array` and classified. A row
is `ok` only when every digit is sure and no piece is wide enough to hold two
touching digits. It is a yardstick for the method the issue asks to choose by
measurement, not that method.
"""

from __future__ import annotations

import io
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Reading:
    """A field read as a string: the digits, whether it is sure, and each digit's confidence."""

    text: str
    ok: bool
    confidences: tuple[float, ...]


def read_number(data: bytes, classifier: Classifier) -> Reading:
    """The segmentation baseline: components, grouped by column overlap, each read as one digit."""
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
    digits, wide = [], False
    for rows, cols in groups:
        wide |= (cols.stop - cols.start) > TOUCHING_WIDTH * height
        crop = np.where(labels[rows, cols] > 0, grey[rows, cols], grey[rows, cols].max())
        padded = np.pad(crop, 4, constant_values=float(np.median(grey)))
        try:
            digits.append(normalise_array(padded))
        except Exception:
            return Reading("", False, ())
    probabilities = classifier.probabilities(np.stack(digits))
    text = "".join(str(int(p.argmax())) for p in probabilities)
    confidences = tuple(float(p.max()) for p in probabilities)
    sure = all(c >= classifier.uncertain_below for c in confidences) and not wide
    return Reading(text, sure, confidences)


def main(
    data: Annotated[Path, typer.Option(help="MNIST .npz (its test digits are drawn)")] = Path(
        "../shared/data/mnist.npz"
    ),
    per_length: Annotated[int, typer.Option(help="strings of each length 1-8")] = 200,
    seed: Annotated[int, typer.Option()] = 0,
    model: Annotated[Path | None, typer.Option(help="default: the shipped model")] = None,
) -> None:
    """Print the number benchmark's tables."""
    with np.load(data) as mnist:
        images, labels = mnist["x_test"], mnist["y_test"]
    classifier = Classifier(model or default_model_path())
    samples = list(
        number_samples(images, labels, lengths=range(1, 9), per_length=per_length, conditions=CONDITIONS, seed=seed)
    )
    started = time.perf_counter()
    readings = [read_number(sample.rendered.data, classifier) for sample in samples]
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
