"""Fault benchmark: `classify --engine spark --watch` stopped again and again while files keep arriving.

Usage: .venv/bin/python benchmarks/spark_restarts.py [--rounds N] [--files N] [--seed N]

A feeder moves MNIST PNGs into the source folder in small bursts (written
under a hidden name, then renamed in, as uploads arrive) while a streaming
run in local[2] reads them in micro-batches of 50. Each round the run is
stopped after a random 6-20 s, by SIGTERM and by SIGKILL of the driver in
turn, and started again with the same checkpoint. At the end a run without
--watch reads what is left, and the Parquet output (through `digitwatch
export --parquet`) must hold every file exactly once, with the digit its
label says for nearly all. Printed: files, rows, missing, duplicated, each
SIGTERM's time to exit and its exit code, whether every process of a
stopped or killed run was gone within 30 s, and the verdict.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from service_helpers import alive, descendants, png_bytes  # the test suite's own helpers

DIGITWATCH = Path(sys.executable).parent / "digitwatch"
MNIST = Path(__file__).resolve().parent.parent / "tests" / "data" / "mnist_small.npz"


def feed(source: Path, count: int, seed: int, done: threading.Event) -> dict[str, int]:
    """Start a thread that drops `count` digits into `source` in bursts; returns name -> label, filled as it goes."""
    data = np.load(MNIST)
    images, labels = data["x_test"], data["y_test"]
    written: dict[str, int] = {}
    rng = random.Random(seed)

    def run() -> None:
        index = 0
        while index < count:
            for _ in range(min(rng.randint(5, 40), count - index)):
                name = f"digit-{index:05d}.png"
                staged = source / f".{name}"
                staged.write_bytes(png_bytes(images[index % len(images)]))
                staged.rename(source / name)
                written[name] = int(labels[index % len(labels)])
                index += 1
            time.sleep(rng.uniform(0.5, 1.5))  # about 22 files a second: they keep arriving through the rounds
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return written


def start(source: Path, out: Path, log: Path, *, watch: bool) -> subprocess.Popen[bytes]:
    args = [str(DIGITWATCH), "classify", str(source), "--engine", "spark", "--out", str(out), "--master", "local[2]"]
    if watch:
        args += ["--watch", "--interval", "1", "--max-files-per-trigger", "50"]
    with log.open("ab") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def gone_within(pids: set[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def main(
    rounds: Annotated[int, typer.Option(min=1, help="Stops (SIGTERM and SIGKILL in turn) while files arrive.")] = 6,
    files: Annotated[int, typer.Option(min=10, help="Files fed into the source over the rounds.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seeds the bursts and the stop times.")] = 0,
) -> None:
    """Stop and restart a streaming Spark run under load; check that every file has exactly one row."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="spark_restarts_") as temporary:
        scratch = Path(temporary)
        source, out, log = scratch / "scans", scratch / "parquet", scratch / "runs.log"
        source.mkdir()
        fed = threading.Event()
        labels = feed(source, files, seed, fed)
        term_seconds, term_codes, orphans = [], [], 0
        for round_ in range(rounds):
            run = start(source, out, log, watch=True)
            time.sleep(rng.uniform(6, 20))
            family = {run.pid, *descendants(run.pid)}
            how = signal.SIGTERM if round_ % 2 == 0 else signal.SIGKILL
            started = time.monotonic()
            run.send_signal(how)
            code = run.wait(timeout=120)
            if how == signal.SIGTERM:
                term_seconds.append(time.monotonic() - started)
                term_codes.append(code)
            if not gone_within(family, 30):
                orphans += 1
                os.killpg(run.pid, signal.SIGKILL)
            typer.echo(f"round {round_ + 1}: {how.name}, exit {code}, {len(labels)} files fed so far")
        fed.wait()
        final = start(source, out, log, watch=False)
        final_code = final.wait(timeout=600)
        results = scratch / "results.csv"
        subprocess.run([str(DIGITWATCH), "export", "--parquet", str(out), "--out", str(results)], check=True)
        with results.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        names = [row["filename"] for row in rows]
        missing = set(labels) - set(names)
        duplicated = len(names) - len(set(names))
        right = sum(1 for row in rows if row["filename"] in labels and row["digit"] == str(labels[row["filename"]]))
        typer.echo(f"files fed {len(labels)}, rows {len(rows)}, missing {len(missing)}, duplicated {duplicated}")
        typer.echo(f"digits right {right / len(rows):.2%}; final run exit {final_code}")
        typer.echo(
            "SIGTERM stops: "
            + ", ".join(f"{s:.1f} s (exit {c})" for s, c in zip(term_seconds, term_codes, strict=True))
        )
        typer.echo(f"runs whose processes outlived them by 30 s: {orphans}")
        passed = not missing and not duplicated and final_code == 0 and not orphans and set(term_codes) <= {0}
        typer.echo("PASSED" if passed else "FAILED")
        if not passed:
            typer.echo(log.read_text(errors="replace")[-5000:])
            raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
