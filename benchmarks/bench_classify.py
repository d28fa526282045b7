"""Benchmark: `digitwatch classify` throughput, against a per-image model.predict loop in the same run.

Usage: .venv/bin/python benchmarks/bench_classify.py [--scans N] [--pngs N] [--loop N] [--repeat N]
                                                     [--cache DIR] [--model PATH]

Figures, each printed with the 1-minute load average when it was taken:
- the installed `digitwatch classify FOLDER --results CSV` on N mixed scan-like
  files (benchmarks/bench_folders.py), timed from launch to exit, so start-up,
  model loading, decoding, the model and the CSV are all in it; the median of
  --repeat runs (the machine is shared: single runs vary by 10-20%);
- the same on N plain 28x28 MNIST PNGs;
- the tutorial's way on the first files of each folder: one `model.predict`
  per image (Keras), with the same reading and normalising; the ratio of the
  classify figure to this one;
- what the design rests on: reading and normalising alone in the main process
  and in 1 or 2 worker processes, the LiteRT model alone with 1 or 2 threads,
  and the same classify with the Keras (TensorFlow) backend.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_folders import label_of, load_average, mixed_scans, mnist_pngs
from watcher.model.backends import LiteRTBackend, import_keras_quietly
from watcher.model.classifier import default_model_path
from watcher.reading.imaging import prepare_file
from watcher.reading.pool import PreparePool

DIGITWATCH = Path(sys.executable).parent / "digitwatch"


def report(figure: str, rate: float, target: str, extra: str = "") -> None:
    """One result line: figure, images per second, target, load average."""
    typer.echo(f"{figure:<48} {rate:>8,.0f} images/s   target {target:<22} load {load_average()}  {extra}")


def run_classify(folder: Path, model: Path, scratch: Path) -> tuple[float, list[dict]]:
    """Time the installed console script from launch to exit; return (seconds, rows)."""
    results = scratch / "rows.csv"
    results.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [str(DIGITWATCH), "classify", str(folder), "--results", str(results), "--model", str(model)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"digitwatch classify failed: {done.stderr}")
    with results.open(newline="", encoding="utf-8") as file:
        return seconds, list(csv.DictReader(file))


def median_rate(folder: Path, model: Path, scratch: Path, count: int, repeat: int) -> tuple[float, list[dict], str]:
    """Classify the folder `repeat` times: the median rate, the last run's rows, and all rates as text."""
    rates = []
    for _ in range(repeat):
        seconds, rows = run_classify(folder, model, scratch)
        rates.append(count / seconds)
    spread = f"median of {repeat}: " + " ".join(f"{rate:,.0f}" for rate in sorted(rates))
    return float(np.median(rates)), rows, spread


def accuracy(rows: list[dict]) -> str:
    """Share of digit files whose row names the right digit (non-digits left out)."""
    labelled = [(row, label_of(Path(row["filename"]))) for row in rows]
    right = [row["digit"] == str(label) for row, label in labelled if label is not None]
    return f"{len(rows)} rows, {np.mean(right):.1%} of digits right"


def decode_rate(files: list[Path], *, workers: int) -> float:
    """Files per second read and normalised: in this process (workers=0) or by a pool of workers."""
    started = time.perf_counter()
    if workers == 0:
        count = sum(1 for _ in map(prepare_file, files))
    else:
        with PreparePool(workers) as pool:
            count = sum(1 for _ in pool.prepare(files))
    return count / (time.perf_counter() - started)


def model_alone(folder: Path, model: Path, *, threads: int, batch: int = 512) -> float:
    """Images per second of the LiteRT model alone on already normalised digits."""
    rows = [row for path in sorted(folder.glob("*.png"))[:2048] for row in prepare_file(path)]
    digits = np.stack([row.digit for row in rows if row.digit is not None])
    backend = LiteRTBackend(model.with_suffix(".tflite"), threads=threads)
    inputs = digits[..., None]
    backend.predict(inputs[:batch])
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < 2.0:
        for start in range(0, len(inputs), batch):
            done += len(backend.predict(inputs[start : start + batch]))
    return done / (time.perf_counter() - started)


def per_image_loop(files: list[Path], model: Path) -> float:
    """The tutorial's way: read and normalise one file, then one model.predict call for it."""
    keras = import_keras_quietly()
    net = keras.models.load_model(model, compile=False)
    net.predict(np.zeros((1, 28, 28, 1), np.float32), verbose=0)  # the first call builds the graph
    started = time.perf_counter()
    for path in files:
        (prepared,) = prepare_file(path)
        if prepared.digit is not None:
            net.predict(prepared.digit[None, ..., None], verbose=0)
    return len(files) / (time.perf_counter() - started)


def keras_twin(model: Path, scratch: Path) -> Path:
    """A copy of the model with its metadata but without its .tflite: runs on the Keras backend."""
    folder = scratch / "keras_only"
    folder.mkdir(exist_ok=True)
    for source in model.parent.glob(f"{model.stem}.*"):
        if source.suffix in (".keras", ".json"):
            shutil.copy(source, folder / source.name)
    return folder / model.name


def main(
    scans: Annotated[int, typer.Option(min=100, help="Mixed scan-like files to classify.")] = 3000,
    pngs: Annotated[int, typer.Option(min=100, help="28x28 MNIST PNGs to classify.")] = 10_000,
    loop: Annotated[int, typer.Option(min=10, help="Files for the per-image model.predict loop.")] = 300,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of each classify figure; the median is reported.")] = 3,
    cache: Annotated[
        Path | None,
        typer.Option(help="Keep the rendered folders here and reuse them.", file_okay=False, resolve_path=True),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="A .keras model with its .tflite beside it. Default: shipped.",
            exists=True,
            dir_okay=False,
            resolve_path=True,
        ),
    ] = None,
) -> None:
    """Time `digitwatch classify` on scan-like files and 28x28 PNGs; compare with a per-image loop."""
    model = model or default_model_path()
    with tempfile.TemporaryDirectory(prefix="bench_classify_") as temporary:
        scratch, root = Path(temporary), cache or Path(temporary)
        typer.echo(f"{os.cpu_count()} cores; preparing folders (load {load_average()})")
        mixed, small = root / f"mixed_{scans}", root / f"mnist28_{pngs}"
        mixed_files, small_files = mixed_scans(mixed, scans), mnist_pngs(small, pngs)
        typer.echo(f"model {model}; {DIGITWATCH.name} classify FOLDER --results CSV, timed from launch to exit")
        batch_rate, rows, spread = median_rate(mixed, model, scratch, scans, repeat)
        report(
            f"classify, {scans} mixed scan-like files",
            batch_rate,
            ">= 1,000 and >= 50x loop",
            f"{spread}; {accuracy(rows)}",
        )
        small_rate, rows, spread = median_rate(small, model, scratch, pngs, repeat)
        report(f"classify, {pngs} 28x28 PNGs", small_rate, ">= 4,000", f"{spread}; {accuracy(rows)}")
        for workers, how in ((0, "in the main process"), (1, "1 worker process"), (2, "2 worker processes")):
            report(f"  read+normalise mixed only, {how}", decode_rate(mixed_files, workers=workers), "-")
        for threads in (1, 2):
            report(f"  LiteRT model alone, {threads} thread(s)", model_alone(small, model, threads=threads), "-")
        seconds, _ = run_classify(mixed, keras_twin(model, scratch), scratch)
        report("  classify, mixed, Keras backend (own models)", scans / seconds, "-")
        loop_rate = per_image_loop(mixed_files[:loop], model)
        report(f"per-image model.predict loop, {loop} mixed files", loop_rate, "-")
        typer.echo(f"ratio: classify / per-image loop = {batch_rate / loop_rate:.1f}x (target >= 50x)")
        small_loop_rate = per_image_loop(small_files[:loop], model)
        report(f"per-image model.predict loop, {loop} 28x28 PNGs", small_loop_rate, "-")
        typer.echo(f"ratio on 28x28 PNGs: classify / per-image loop = {small_rate / small_loop_rate:.1f}x")


if __name__ == "__main__":
    typer.run(main)
