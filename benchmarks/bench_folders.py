"""Folders of test images for the speed benchmarks: mixed scan-like files, and plain 28x28 MNIST PNGs.

Mixed scans are MNIST test digits rendered by `scan_render` in every one of its
conditions in turn (PNG, JPEG, BMP, TIFF, WebP, GIF; grey, RGB, palette,
16-bit, bilevel, transparent; pages of about 40 to 900 pixels), plus one
non-digit (blank page, noise, ruled paper, letters, smudge) in ten. A file's
name ends in its label (`_x` for a non-digit). A folder is reused when its
manifest says it was made with the same count and seed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_render

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
SMALL_MNIST = ROOT / "tests" / "data" / "mnist_small.npz"
NON_DIGIT_EVERY = 10  # one file in ten holds no digit


def load_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test digits and labels: the full set when this machine has it, else the tests' slice."""
    with np.load(SHARED_MNIST if SHARED_MNIST.is_file() else SMALL_MNIST) as archive:
        return archive["x_test"], archive["y_test"]


def label_of(path: Path) -> int | None:
    """The digit a benchmark file holds, from its name; None for a non-digit."""
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def mixed_scans(folder: Path, count: int, *, seed: int = 0) -> list[Path]:
    """`count` scan-like files in `folder` (made once, reused after)."""
    return _cached(folder, {"kind": "mixed", "count": count, "seed": seed}, _render_mixed)


def mnist_pngs(folder: Path, count: int) -> list[Path]:
    """`count` MNIST test digits as 28x28 grey PNGs, white ink on black as MNIST stores them."""
    return _cached(folder, {"kind": "mnist28", "count": count}, _write_mnist)


def _cached(folder: Path, manifest: dict, make) -> list[Path]:
    stamp = folder / "manifest.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == manifest):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        make(folder, manifest)
        stamp.write_text(json.dumps(manifest))
    return sorted(p for p in folder.iterdir() if p.name != "manifest.json")


def _render_mixed(folder: Path, manifest: dict) -> None:
    images, labels = load_test_digits()
    count, seed = manifest["count"], manifest["seed"]
    jobs = [
        (folder, index, seed, images[index % len(images)], int(labels[index % len(labels)])) for index in range(count)
    ]
    context = multiprocessing.get_context("spawn")  # leaves the forkserver to the product's decode workers
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=context) as pool:
        list(pool.map(_render_one, jobs, chunksize=64))


def _render_one(job: tuple) -> None:
    folder, index, seed, image, label = job
    if index % NON_DIGIT_EVERY == NON_DIGIT_EVERY - 1:
        kind = scan_render.NON_DIGIT_KINDS[(index // NON_DIGIT_EVERY) % len(scan_render.NON_DIGIT_KINDS)]
        file, name = scan_render.render_non_digit_file(kind, scan_render.image_rng(seed, 1, index)), f"{index:06d}_x"
    else:
        condition = list(scan_render.CONDITIONS)[index % len(scan_render.CONDITIONS)]
        file = scan_render.render_digit_file(image, condition, scan_render.image_rng(seed, 0, index))
        name = f"{index:06d}_{label}"
    (folder / f"{name}{file.suffix}").write_bytes(file.data)


def _write_mnist(folder: Path, manifest: dict) -> None:
    images, labels = load_test_digits()
    for index in range(manifest["count"]):
        at = index % len(images)
        Image.fromarray(images[at]).save(folder / f"{index:06d}_{labels[at]}.png")


def load_average() -> str:
    """The 1-minute load average, for printing beside a figure (2 cores: above 2 means contention)."""
    return f"{os.getloadavg()[0]:.2f}"
