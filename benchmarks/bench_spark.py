"""Benchmark: `classify --engine spark` in local[N] against local `classify` on the same files, in the same run.

Usage: .venv/bin/python benchmarks/bench_spark.py [--scans N] [--repeat N] [--cache DIR]

Figures, each printed with the 1-minute load average when it was taken:
- local `digitwatch classify FOLDER --results CSV` on N mixed scan-like files
  (benchmarks/bench_folders.py), launch to exit, the median of --repeat runs;
- `digitwatch classify FOLDER --engine spark --out DIR --master local[2]`,
  launch to exit (JVM start and Spark's planning included), the same median,
  and its ratio to local classify (target >= 50%);
- the same run's time inside its one micro-batch (from Spark's progress
  lines): launch to exit less the JVM's start, planning and stop;
- a run in micro-batches of N/6 files, timed over the batches after the
  first: a JVM that has warmed up, which is what a long-running cluster job
  sees per file; per executor core, and local[1] for one core measured
  directly;
- whether every file got the same row (digit, status, confidence, detail,
  content hash, page) from both engines (target 100%).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_folders import load_average, mixed_scans

DIGITWATCH = Path(sys.executable).parent / "digitwatch"
COMPARED = ("digit", "confidence", "status", "detail", "sha256", "page")
BATCH_LINE = re.compile(r"batch \d+: ([\d,]+) files in ([\d.]+) s")


def timed(command: list[str]) -> tuple[float, str]:
    """Run a command to completion; return its seconds from launch to exit and its standard error."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stderr


def local_run(folder: Path, scratch: Path) -> tuple[float, Path]:
    results = scratch / "local.csv"
    results.unlink(missing_ok=True)
    seconds, _ = timed([str(DIGITWATCH), "classify", str(folder), "--results", str(results)])
    return seconds, results


def spark_run(
    folder: Path, scratch: Path, master: str, run: str, *args: str
) -> tuple[float, list[tuple[int, float]], Path]:
    """Launch to exit, and (files, seconds) of each micro-batch; returns the results CSV exported from it."""
    out = scratch / f"parquet-{master}-{run}"
    seconds, log = timed(
        [str(DIGITWATCH), "classify", str(folder), "--engine", "spark", "--out", str(out), "--master", master, *args]
    )
    batches = [(int(m[1].replace(",", "")), float(m[2])) for m in BATCH_LINE.finditer(log)]
    results = scratch / f"spark-{master}-{run}.csv"
    timed([str(DIGITWATCH), "export", "--parquet", str(out), "--out", str(results)])
    return seconds, batches, results


def warm_rate(folder: Path, scratch: Path, master: str, run: str, batch: int) -> float:
    """Images/s over the micro-batches after the first, in batches of `batch` files."""
    _, batches, _ = spark_run(folder, scratch, master, run, "--max-files-per-trigger", str(batch))
    later = batches[1:]
    return sum(files for files, _ in later) / sum(seconds for _, seconds in later)


def rows_of(path: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as file:
        return {(r["filename"], r["page"]): tuple(r[c] for c in COMPARED) for r in csv.DictReader(file)}


def report(figure: str, rate: float, target: str, extra: str = "") -> None:
    typer.echo(f"{figure:<52} {rate:>8,.0f} images/s   target {target:<8} load {load_average()}  {extra}")


def main(
    scans: Annotated[int, typer.Option(min=100, help="Mixed scan-like files to classify.")] = 3000,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of each figure; the median is reported.")] = 3,
    cache: Annotated[
        Path | None,
        typer.Option(help="Keep the rendered folder here and reuse it.", file_okay=False, resolve_path=True),
    ] = None,
) -> None:
    """Time the Spark engine in local mode against local classify on the same mixed files."""
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as temporary:
        scratch = Path(temporary)
        folder = (cache or scratch) / f"mixed_{scans}"
        typer.echo(f"{os.cpu_count()} cores; preparing {scans} mixed files (load {load_average()})")
        mixed_scans(folder, scans)
        local_seconds, spark_seconds, batch_seconds, warm = [], [], [], []
        local_csv = spark_csv = None
        step = max(1, scans // 6)
        for run in range(repeat):  # interleaved, so both engines see the same machine
            seconds, local_csv = local_run(folder, scratch)
            local_seconds.append(seconds)
            seconds, batches, spark_csv = spark_run(folder, scratch, "local[2]", str(run))
            spark_seconds.append(seconds)
            batch_seconds.append(sum(s for _, s in batches))
            warm.append(warm_rate(folder, scratch, "local[2]", f"warm{run}", step))
        one_core = [warm_rate(folder, scratch, "local[1]", f"one{run}", step) for run in range(repeat)]
        local_rate = scans / float(np.median(local_seconds))
        spark_rate = scans / float(np.median(spark_seconds))
        batch_rate = scans / float(np.median(batch_seconds))
        warm_median = float(np.median(warm))
        report(f"local classify, {scans} mixed files, launch to exit", local_rate, "-", _runs(local_seconds))
        report("spark local[2], launch to exit", spark_rate, "-", _runs(spark_seconds))
        typer.echo(
            f"ratio spark local[2] / local classify, launch to exit: {spark_rate / local_rate:.0%} (target >= 50%)"
        )
        report("spark local[2], inside its one micro-batch", batch_rate, "-", _runs(batch_seconds))
        typer.echo(f"ratio spark local[2] inside the batch / local classify: {batch_rate / local_rate:.0%}")
        report(f"spark local[2], batches of {step} after the first", warm_median, "-", _rates(warm))
        typer.echo(f"ratio spark local[2] warm / local classify: {warm_median / local_rate:.0%}")
        typer.echo(f"per executor core, local[2] warm: {warm_median / 2:,.0f} images/s")
        report(f"spark local[1], batches of {step} after the first", float(np.median(one_core)), "-", _rates(one_core))
        assert local_csv is not None and spark_csv is not None
        local, spark = rows_of(local_csv), rows_of(spark_csv)
        same = sum(1 for key, row in local.items() if spark.get(key) == row)
        typer.echo(
            f"same row from both engines: {same} of {len(local)} rows ({same / len(local):.2%}; target 100%); "
            f"rows only local {len(local.keys() - spark.keys())}, only spark {len(spark.keys() - local.keys())}"
        )


def _rates(rates: list[float]) -> str:
    return "runs " + " ".join(f"{r:,.0f}/s" for r in sorted(rates))


def _runs(seconds: list[float]) -> str:
    return "runs " + " ".join(f"{s:.1f}s" for s in sorted(seconds))


if __name__ == "__main__":
    typer.run(main)
