"""Soak test for `digitwatch watch`: a trickle plus bursts, optionally SIGTERM restarts; then one row per file.

Not run in CI. The promise it checks: after N minutes of a trickle (some files
written in place, some written to a temporary name and renamed, one in fifty
truncated) plus a burst every so often, the results CSV holds exactly one row
per file dropped, with the truncated files as error rows; every SIGTERM ends
the service with exit code 0 within 5 s, and leaves none of its processes
(decode workers, forkserver, resource tracker) behind.

With `--restarts N`, the service is also stopped with SIGTERM N times over the
run and started again at once with the same inbox and results, while files
keep being dropped. The moments are random (seeded by `--seed`): a third of
them within a few seconds of a burst starting, the rest one in each equal
slice of the run; a stop falls due only once the service has logged "ready:".
A stop slower than 5 s is a hang (after 30 s it is killed so the soak goes
on). Without restarts, resident memory must also stay flat after warm-up
(restarts reset it, so it is then only reported).

    # the documented 30-minute soak (about 10,600 files) with 20 restarts
    .venv/bin/python benchmarks/soak.py --minutes 30 --restarts 20

    # the same without restarts, which also checks memory
    .venv/bin/python benchmarks/soak.py --minutes 30

    # a quick look (about 3 minutes)
    .venv/bin/python benchmarks/soak.py --minutes 3 --restarts 6

It prints RSS samples and each stop as it goes and a JSON summary at the end;
the exit code is 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processes import become_subreaper
from restarts import Restarter, Runner, plan_stops
from service_run import EXE, StopRecord, digit_pngs, read_rows

SAMPLE_EVERY = 10.0  # seconds between RSS samples
DRAIN_TIMEOUT = 300.0  # seconds allowed after the last drop for every row to appear
MEMORY_GROWTH_LIMIT = 50.0  # MB of resident memory growth allowed after warm-up (no restarts)


def main() -> int:
    args = parse_args()
    become_subreaper()  # a process the service leaves behind is re-parented to us, so it is found
    work = Path(args.workdir or tempfile.mkdtemp(prefix="digitwatch-soak-"))
    inbox, results = work / "inbox", work / "results" / "predictions.csv"
    inbox.mkdir(parents=True, exist_ok=True)
    results.parent.mkdir(exist_ok=True)  # watch refuses --results in a missing folder
    runner = Runner(service_args(args, inbox, results, work), work / "service.log", marker=str(inbox), exe=args.exe)
    started = time.monotonic()
    restarter = Restarter(runner, plan_stops(args), started)
    try:
        restarter.start()
        dropped, samples = drive(args, inbox, runner, restarter, started)
        restarter.join()  # every planned moment lies within the run: at most the restart in hand is left
        drained = wait_rows(results, set(dropped)) if restarter.error is None else None
        final = {"t": round(time.monotonic() - started, 1), "in_burst": False}
        stops = restarter.records + [runner.stop_final()]
    finally:
        restarter.cancel()
        runner.close()
    report = check(args, results, dropped, samples, drained, stops, restarter.error)
    report["stops"] = [
        {**moment, **stop.__dict__} for moment, stop in zip([*restarter.moments, final], stops, strict=True)
    ]
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
    parser.add_argument("--restarts", type=int, default=0, help="SIGTERM and restart the service this many times")
    parser.add_argument("--seed", type=int, default=0, help="seed for the moments of the restarts")
    parser.add_argument("--after", choices=["keep", "move", "delete"], default="keep")
    parser.add_argument("--model", type=Path, help="model for the service (default: the shipped one)")
    parser.add_argument("--exe", type=Path, default=EXE, help="console script")
    parser.add_argument("--workdir", type=Path, help="folder for inbox, results and log (default: a temp folder)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp folder after a pass")
    return parser.parse_args()


def service_args(args: argparse.Namespace, inbox: Path, results: Path, work: Path) -> list[str]:
    """The `digitwatch watch` options, the same for every start."""
    options = [
        "--inbox",
        str(inbox),
        "--results",
        str(results),
        "--after",
        args.after,
        "--summary-interval",
        "30",
        "--rescan-interval",
        "60",
    ]
    if args.model:
        options += ["--model", str(args.model)]
    if args.after == "move":
        options += ["--processed-dir", str(work / "processed"), "--failed-dir", str(work / "failed")]
    return options


def drive(
    args: argparse.Namespace, inbox: Path, runner: Runner, restarter: Restarter, started: float
) -> tuple[list[str], list[dict[str, Any]]]:
    """Drop files for the given minutes, whether the service is up or not; return the names and RSS samples."""
    pngs = digit_pngs()
    dropped: list[str] = []
    samples: list[dict[str, Any]] = []
    end = started + args.minutes * 60
    next_drop, next_burst, next_sample = started, started + args.burst_every, started
    while time.monotonic() < end and restarter.error is None:
        now = time.monotonic()
        if now >= next_sample:
            samples.append({"t": round(now - started, 1), "rss_mb": rss_mb(runner.pid), "dropped": len(dropped)})
            print(f"t={samples[-1]['t']:7.1f}s rss={samples[-1]['rss_mb']} MB dropped={len(dropped)}", flush=True)
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


def drop(inbox: Path, pngs: tuple[bytes, ...], index: int) -> str:
    """Write one file the way scanners and copies do: in place, or to a temporary name then renamed."""
    name = f"soak_{index:06d}.png"
    data = pngs[index % len(pngs)]
    if is_truncated(index):
        data = data[: len(data) // 2]  # truncated: must end as an error row, once
    if index % 2:
        (inbox / f"{name}.part").write_bytes(data)
        os.rename(inbox / f"{name}.part", inbox / name)
    else:
        (inbox / name).write_bytes(data)
    return name


def is_truncated(index: int) -> bool:
    return index % 50 == 49


def rss_mb(pid: int) -> float | None:
    """Resident memory of the process in MB, or None while it is down (between a stop and its restart)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def wait_rows(results: Path, expected: set[str]) -> float:
    """Seconds from the last drop until every expected name had a row (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_TIMEOUT:
        if expected <= set(read_rows(results)["filename"]):
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def check(
    args: argparse.Namespace,
    results: Path,
    dropped: list[str],
    samples: list[dict[str, Any]],
    drained: float | None,
    stops: list[StopRecord],
    error: str | None,
) -> dict[str, Any]:
    """The JSON summary: rows against names dropped, the stops, memory; `passed` when all hold."""
    table = read_rows(results)
    counts = table["filename"].value_counts()
    missing = sorted(set(dropped) - set(counts.index))
    duplicated = sorted(counts[counts > 1].index)
    seconds = [stop.seconds for stop in stops]
    report = {
        "restarts": len(stops) - 1,
        "hangs": sum(stop.hang for stop in stops),
        "max_stop_seconds": max(seconds),
        "median_stop_seconds": round(statistics.median(seconds), 3),
        "exit_codes": sorted({stop.code for stop in stops}),
        "orphans": sum(stop.orphans for stop in stops),
        "files_dropped": len(dropped),
        "rows": len(table),
        "missing": len(missing),
        "duplicated": len(duplicated),
        "missing_examples": missing[:10],
        "duplicated_examples": duplicated[:10],
        "error_rows": int((table["status"] == "error").sum()),
        "expected_error_rows": sum(1 for i in range(len(dropped)) if is_truncated(i)),
        "seconds_to_drain_after_last_drop": drained,
        "restart_error": error,
        "sigterm_exit_code": stops[-1].code,
        "sigterm_seconds": stops[-1].seconds,
    }
    report.update(memory(samples, checked=args.restarts == 0))
    report["passed"] = (
        error is None
        and not missing
        and not duplicated
        and len(table) == len(dropped)
        and report["hangs"] == 0
        and report["exit_codes"] == [0]
        and report["orphans"] == 0
        and report["error_rows"] == report["expected_error_rows"]
        and report["memory_ok"]
    )
    return report


def memory(samples: list[dict[str, Any]], *, checked: bool) -> dict[str, Any]:
    """RSS figures; growth after warm-up must stay under the limit when `checked` (one process throughout)."""
    rss = [s["rss_mb"] for s in samples if s["rss_mb"] is not None]
    steady = rss[len(rss) // 5 :] or rss  # after warm-up: TensorFlow grows its pools during the first batches
    growth = round(steady[-1] - steady[0], 1) if steady else 0.0
    return {
        "rss_mb_first": rss[0] if rss else None,
        "rss_mb_last": rss[-1] if rss else None,
        "rss_mb_max": max(rss) if rss else None,
        "rss_mb_growth_after_warmup": growth,
        "memory_checked": checked,
        "memory_ok": growth < MEMORY_GROWTH_LIMIT or not checked,
        "rss_samples": samples,
    }


if __name__ == "__main__":
    sys.exit(main())
