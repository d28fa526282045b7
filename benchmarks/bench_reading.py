"""Benchmark: the time to read and normalise one file, this checkout against a baseline checkout, paired.

Usage: python benchmarks/bench_reading.py --baseline DIR [--files N] [--rounds R] [--data MNIST]

Renders N MNIST test digits as scan files (the conditions of
`scan_render.CONDITIONS` in turn), then times `watcher.reading.imaging.prepare_file`
over all of them in a fresh process of this checkout and of the baseline
(for example a `git worktree` of the last release), R rounds, the order
swapped each round. One process, one core, no model: the reading alone.
Prints each round's milliseconds per file and the ratio, and the median ratio:
on a shared machine only figures from the same run compare.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scan_render

HERE = Path(__file__).resolve().parents[1]
SHARED_MNIST = HERE.parent / "shared" / "data" / "mnist.npz"
TIMER = """
import sys, time
from pathlib import Path
from watcher.reading.imaging import prepare_file
files = sorted(Path(sys.argv[1]).iterdir())
for path in files[:20]:
    prepare_file(path)  # warm: SciPy's import and first calls
started = time.perf_counter()
for path in files:
    prepare_file(path)
print(1000 * (time.perf_counter() - started) / len(files))
"""


def render(folder: Path, count: int, data: Path) -> None:
    """The first `count` MNIST test digits as scan files, the conditions in turn."""
    with np.load(data) as mnist:
        digits = mnist["x_test"][:count]
    for index, (_, file) in enumerate(scan_render.digit_files(digits, seed=0)):
        (folder / f"{index:05d}{file.suffix}").write_bytes(file.data)


def milliseconds_per_file(checkout: Path, folder: Path) -> float:
    """prepare_file's time per file in a fresh process importing `checkout`'s watcher."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", TIMER, str(folder)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {done.stderr.strip()}")
    return float(done.stdout.strip().splitlines()[-1])


def main(
    baseline: Annotated[Path, typer.Option(help="A checkout of the baseline (e.g. a git worktree).", exists=True)],
    files: Annotated[int, typer.Option(min=50, help="Scan files to read.")] = 1000,
    rounds: Annotated[int, typer.Option(min=1, help="Paired rounds.")] = 5,
    data: Annotated[Path, typer.Option(help="MNIST .npz", exists=True)] = SHARED_MNIST,
) -> None:
    """Time the reading of the same files by this checkout and the baseline, in turns."""
    with tempfile.TemporaryDirectory(prefix="bench_reading_") as scratch:
        folder = Path(scratch)
        render(folder, files, data)
        typer.echo(f"{files} scan files; ms per file (prepare_file, one process); this {HERE}, baseline {baseline}")
        ratios = []
        for round_ in range(rounds):
            sides = [("this", HERE), ("baseline", baseline)]
            times = {name: milliseconds_per_file(path, folder) for name, path in sides[:: 1 if round_ % 2 else -1]}
            ratios.append(times["this"] / times["baseline"])
            typer.echo(f"  round {round_ + 1}: this {times['this']:.2f}, baseline {times['baseline']:.2f}, "
                       f"ratio {ratios[-1]:.3f}")  # fmt: skip
    typer.echo(f"median ratio this / baseline: {statistics.median(ratios):.3f} (under 1: faster)")


if __name__ == "__main__":
    typer.run(main)
