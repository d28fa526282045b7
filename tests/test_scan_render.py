"""The scan renderer behind benchmarks/bench_scans.py: seeded, and real files of every stated format and mode."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from watcher.loading import decode_image

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FILE_MODES = {"L": "L", "RGB": "RGB", "P": "P", "I;16": "I;16", "1": "1", "RGBA-border": "RGBA", "RGBA-clear": "RGBA"}


def _load_benchmark_module(name: str):
    """Import a benchmarks/ script by path: benchmarks/ is not an installed package."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


scan_render = _load_benchmark_module("scan_render")


@pytest.fixture(scope="module")
def digit(mnist_small) -> np.ndarray:
    """One MNIST test digit, a 7."""
    assert mnist_small["y_test"][0] == 7
    return mnist_small["x_test"][0]


@pytest.mark.parametrize("condition", list(scan_render.CONDITIONS))
def test_each_condition_writes_a_decodable_file_of_its_format_and_mode(condition, digit):
    style = scan_render.CONDITIONS[condition]
    file = scan_render.render_digit_file(digit, condition, scan_render.image_rng(0, 0, 1))
    with Image.open(io.BytesIO(file.data)) as image:
        assert image.format == style.format
        assert image.mode == FILE_MODES[style.mode]
        assert file.suffix == scan_render.SUFFIXES[image.format]
    pixels = decode_image(file.data)  # the product's own loader reads it
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    assert min(grey.shape) >= 28
    assert np.percentile(grey, 50) - grey.min() > 0.2, "dark ink on lighter paper"


def test_the_same_seed_gives_identical_files_and_another_seed_different_ones(digit):
    for condition in scan_render.CONDITIONS:
        first = scan_render.render_digit_file(digit, condition, scan_render.image_rng(7, 0, 3))
        again = scan_render.render_digit_file(digit, condition, scan_render.image_rng(7, 0, 3))
        other = scan_render.render_digit_file(digit, condition, scan_render.image_rng(8, 0, 3))
        assert first == again, condition
        assert first.data != other.data, condition


def test_digit_files_take_the_conditions_in_turn(mnist_small):
    digits = mnist_small["x_test"][:3]
    names = [name for name, _ in scan_render.digit_files(digits, seed=0)]
    assert names == list(scan_render.CONDITIONS)[:3]


@pytest.mark.parametrize("kind", scan_render.NON_DIGIT_KINDS)
def test_non_digit_images_are_seeded_and_decodable(kind):
    index = scan_render.NON_DIGIT_KINDS.index(kind)
    for offset in range(0, 4 * len(scan_render.NON_DIGIT_KINDS), len(scan_render.NON_DIGIT_KINDS)):
        first = scan_render.render_non_digit_file(kind, scan_render.image_rng(0, 1, index + offset))
        again = scan_render.render_non_digit_file(kind, scan_render.image_rng(0, 1, index + offset))
        assert first == again
        assert decode_image(first.data).size > 0


def test_letters_and_smudges_leave_ink_but_blank_pages_none():
    style = scan_render.CONDITIONS["clean scan, white paper, grey PNG"]
    rng = scan_render.image_rng(0, 1, 0)
    ink = {kind: np.asarray(scan_render.render_non_digit(kind, style, rng), np.float32) / 255.0
           for kind in ("capital letters", "smudge", "blank page")}  # fmt: skip
    assert ink["capital letters"].min() < 0.3
    assert ink["smudge"].min() < 0.85
    assert (ink["blank page"] < 0.5).mean() < 0.02  # at worst a few specks of dust, never a stroke
