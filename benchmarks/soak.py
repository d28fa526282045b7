"""Soak test for `digitwatch watch`: a steady trickle plus bursts, then exactly one row per file and flat memory.

Not run in CI. The promise it checks: after N minutes of a trickle (some files
written in place, some written to a temporary name and renamed, one in fifty
truncated) plus a burst every so often, the results CSV holds exactly one row
per file dropped, the service stops on SIGTERM with exit code 0 within 5 s,
and its resident memory does not grow.

    # the documented 30-minute soak (about 13,000 files)
    .venv/bin/python benchmarks/soak.py --minutes 30 --model models/digitwatch.keras

    # a quick look (1-2 minutes)
    .venv/bin/python benchmarks/soak.py --minutes 1.5 --burst-every 30 --burst-size 300 --model M.keras

It prints RSS samples as it goes and a JSON summary at the end; the exit code
is 0 when every check passed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "data" / "mnist_small.npz"
SAMPLE_EVERY = 10.0  # seconds between RSS samples
DRAIN_TIMEOUT = 300.0  # seconds allowed after the last drop for every row to appear


def main() -> int:
    args = parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="digitwatch-soak-"))
    inbox, results = work / "inbox", work / "results" / "predictions.csv"
    inbox.mkdir(parents=True, exist_ok=True)
    pngs = digit_pngs()
    service = start_service(args, inbox, results, work)
    try:
        wait_ready(service, work / "service.log")
        dropped, samples = drive(args, inbox, pngs, service.pid)
        drained = wait_rows(results, len(dropped))
        stop_seconds, code = stop(service)
    finally:
        if service.poll() is None:
            service.kill()
    report = check(results, dropped, samples, drained, stop_seconds, code)
    report["workdir"] = str(work)
    print(json.dumps(report, indent=2))
    if not args.keep_workdir and report["passed"] and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report["passed"] else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to keep dropping files")
    parser.add_argument("--trickle-per-second", type=float, default=2.0, help="steady drop rate")
    parser.add_argument("--burst-every", type=float, default=120.0, help="seconds between bursts")
    parser.add_argument("--burst-size", type=int, default=500, help="files per burst")
    parser.add_argument("--after", choices=["keep", "move", "delete"], default="keep")
    parser.add_argument("--model", type=Path, help="model for the service (default: the shipped one)")
    parser.add_argument("--exe", default=str(Path(sys.executable).parent / "digitwatch"), help="console script")
    parser.add_argument("--workdir", type=Path, help="folder for inbox, results and log (default: a temp folder)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp folder after a pass")
    return parser.parse_args()


def digit_pngs() -> list[bytes]:
    """The 1,000 small test digits as PNG bytes (dark ink on white)."""
    with np.load(DIGITS) as archive:
        images = archive["x_test"]
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(255 - image).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def start_service(args: argparse.Namespace, inbox: Path, results: Path, work: Path) -> subprocess.Popen:
    command = [args.exe, "watch", "--inbox", str(inbox), "--results", str(results), "--after", args.after,
               "--summary-interval", "30", "--rescan-interval", "60"]
    if args.model:
        command += ["--model", str(args.model)]
    if args.after == "move":
        command += ["--processed-dir", str(work / "processed"), "--failed-dir", str(work / "failed")]
    log = open(work / "service.log", "ab")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def wait_ready(service: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while "ready:" not in log.read_text(errors="replace"):
        if service.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"service did not become ready; see {log}")
        time.sleep(0.2)


def drive(args: argparse.Namespace, inbox: Path, pngs: list[bytes], pid: int) -> tuple[list[str], list[dict]]:
    """Drop files for the given minutes; return the names dropped and the RSS samples."""
    dropped: list[str] = []
    samples: list[dict] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    next_drop, next_burst, next_sample = started, started + args.burst_every, started
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_sample:
            samples.append({"t": round(now - started, 1), "rss_mb": rss_mb(pid), "dropped": len(dropped)})
            print(f"t={samples[-1]['t']:7.1f}s rss={samples[-1]['rss_mb']:7.1f} MB dropped={len(dropped)}", flush=True)
            next_sample += SAMPLE_EVERY
        if now >= next_burst:
            for _ in range(args.burst_size):
                dropped.append(drop(inbox, pngs, len(dropped)))
            next_burst += args.burst_every
        if now >= next_drop:
            dropped.append(drop(inbox, pngs, len(dropped)))
            next_drop += 1.0 / args.trickle_per_second
        time.sleep(0.01)
    return dropped, samples


def drop(inbox: Path, pngs: list[bytes], index: int) -> str:
    """Write one file the way scanners and copies do: in place, or to a temporary name then renamed."""
    name = f"soak_{index:06d}.png"
    data = pngs[index % len(pngs)]
    if index % 50 == 49:
        data = data[: len(data) // 2]  # truncated: must end as an error row, once
    if index % 2:
        (inbox / f"{name}.part").write_bytes(data)
        os.rename(inbox / f"{name}.part", inbox / name)
    else:
        (inbox / name).write_bytes(data)
    return name


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_rows(results: Path, expected: int) -> float:
    """Seconds from the last drop until the CSV held `expected` rows (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_TIMEOUT:
        try:
            if len(pd.read_csv(results, dtype=str, keep_default_na=False)) >= expected:
                break
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            pass
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def stop(service: subprocess.Popen) -> tuple[float, int]:
    started = time.monotonic()
    service.send_signal(signal.SIGTERM)
    code = service.wait(timeout=60)
    return round(time.monotonic() - started, 2), code


def check(results: Path, dropped: list[str], samples: list[dict], drained: float, stop_seconds: float,
          code: int) -> dict:
    table = pd.read_csv(results, dtype=str, keep_default_na=False)
    counts = table["filename"].value_counts()
    missing = sorted(set(dropped) - set(counts.index))
    duplicated = sorted(counts[counts > 1].index)
    rss = [s["rss_mb"] for s in samples]
    steady = rss[len(rss) // 5 :] or rss  # after warm-up: TensorFlow grows its pools during the first batches
    growth = round(steady[-1] - steady[0], 1) if steady else 0.0
    report = {
        "files_dropped": len(dropped), "rows": len(table), "missing": missing[:10], "duplicated": duplicated[:10],
        "error_rows": int((table["status"] == "error").sum()),
        "expected_error_rows": sum(1 for i in range(len(dropped)) if i % 50 == 49),
        "seconds_to_drain_after_last_drop": drained, "sigterm_exit_code": code, "sigterm_seconds": stop_seconds,
        "rss_mb_first": rss[0] if rss else None, "rss_mb_steady_start": steady[0] if steady else None,
        "rss_mb_last": rss[-1] if rss else None, "rss_mb_max": max(rss) if rss else None,
        "rss_mb_growth_after_warmup": growth, "rss_samples": samples,
    }
    report["passed"] = (not missing and not duplicated and len(table) == len(dropped) and code == 0
                        and stop_seconds < 5.0 and report["error_rows"] == report["expected_error_rows"]
                        and growth < 50.0)
    return report


if __name__ == "__main__":
    sys.exit(main())
