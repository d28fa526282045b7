"""The number renderer behind benchmarks/bench_numbers.py: seeded, and each field holds its digits side by side."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # number_render imports scan_render

import number_render

CONDITIONS = ["clean scan, white paper, grey PNG", "phone: blue ballpoint, grey paper, JPEG"]


def samples(mnist_small, seed: int) -> list:
    return list(
        number_render.number_samples(
            mnist_small["x_test"],
            mnist_small["y_test"],
            lengths=range(1, 5),
            per_length=3,
            conditions=CONDITIONS,
            seed=seed,
        )
    )


def test_the_same_seed_gives_identical_fields_and_another_seed_different_ones(mnist_small):
    first, again, other = samples(mnist_small, 0), samples(mnist_small, 0), samples(mnist_small, 1)
    assert [s.rendered.data for s in first] == [s.rendered.data for s in again]
    assert [s.text for s in first] == [s.text for s in again]
    assert [s.rendered.data for s in first] != [s.rendered.data for s in other]
    assert [len(s.text) for s in first] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert {s.condition for s in first} == set(CONDITIONS)


def test_a_longer_number_is_a_wider_field(mnist_small):
    """Digits are laid side by side: the field's width grows with the count, its height does not."""
    widths: dict[int, list[float]] = {}
    for sample in samples(mnist_small, 0):
        with Image.open(io.BytesIO(sample.rendered.data)) as image:
            widths.setdefault(len(sample.text), []).append(image.width / image.height)
    aspect = [float(np.median(widths[length])) for length in range(1, 5)]
    assert aspect == sorted(aspect) and aspect[3] > 2 * aspect[0], aspect
