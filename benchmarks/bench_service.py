"""Benchmark: the installed `digitwatch watch` service: start-up, latency, a 10,000-file burst, memory.

Usage: .venv/bin/python benchmarks/bench_service.py [--files N] [--burst N] [--kind mixed|mnist28]
                                                    [--settle S] [--cache DIR] [--model PATH]

Figures, each printed with the 1-minute load average when it was taken:
- start -> ready: launch of `digitwatch watch` to its "ready:" log line (the
  backlog scan begins), the median of three starts on an empty inbox;
- latency at light load: one file into the inbox every 0.5 s, renamed into
  place, copied, or written in chunks and closed; from the file being
  complete to its row appearing in the CSV (p50, p95);
- burst: N files written into the inbox at once; files per second from the
  first write to the last row, against `digitwatch classify` on the same
  files in the same run (the batch throughput);
- resident memory of the service and its child processes: at light load, just
  after the burst, its peak, and at steady state 40 s later (with 10 more
  light-load files, whose latency is printed too).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_folders import load_average, mixed_scans, mnist_pngs

DIGITWATCH = Path(sys.executable).parent / "digitwatch"  # --exe replaces it
POLL = 0.002  # seconds between looks at the CSV and the clock
IDLE_WAIT = 40.0  # seconds after a burst before the steady-state memory figure


class Service:
    """`digitwatch watch` in a subprocess, its log lines timestamped as they arrive."""

    def __init__(self, inbox: Path, results: Path, options: list[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(DIGITWATCH), "watch", "--inbox", str(inbox), "--results", str(results), *options],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append((time.perf_counter(), line.rstrip()))

    def seconds_to_ready(self, timeout: float = 120.0) -> float:
        """Seconds from launch to the "ready:" line."""
        wait_for(lambda: any("ready:" in line for _, line in self.lines) or self.process.poll() is not None, timeout)
        for at, line in self.lines:
            if "ready:" in line:
                return at - self.started
        raise SystemExit("the service exited or never said ready:\n" + "\n".join(line for _, line in self.lines[-20:]))

    def rss_mb(self) -> float:
        """Resident memory of the service and its child processes, in MB (shared pages counted in each)."""
        return sum(memory_mb(pid, "status", "VmRSS:") for pid in [self.process.pid] + children(self.process.pid))

    def pss_mb(self) -> float:
        """Proportional set size of the service and its children: shared pages split among them, in MB."""
        return sum(memory_mb(pid, "smaps_rollup", "Pss:") for pid in [self.process.pid] + children(self.process.pid))

    def stop(self) -> None:
        """SIGTERM, as systemd sends; kill if it has not exited within 30 s."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RowWatcher:
    """Tails the results CSV, noting when each file's row first appears."""

    def __init__(self, results: Path) -> None:
        self.results, self.seen, self._offset, self._partial = results, {}, 0, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            try:
                with self.results.open("r", encoding="utf-8", newline="") as file:
                    file.seek(self._offset)
                    text = file.read()
                    self._offset = file.tell()
            except FileNotFoundError:
                continue
            now = time.perf_counter()
            text, _, self._partial = (self._partial + text).rpartition("\r\n")
            for row in csv.reader(io.StringIO(text)):
                if row and row[0] != "filename":
                    self.seen.setdefault(row[0], now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_for(condition: Callable[[], bool], timeout: float, *, every: float = POLL) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return False
        time.sleep(every)
    return True


def children(pid: int) -> list[int]:
    """Direct and indirect child processes (decode workers, a forkserver)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        path = Path(f"/proc/{parent}/task/{parent}/children")
        kids = [int(k) for k in path.read_text().split()] if path.exists() else []
        found += kids
        todo += kids
    return found


def memory_mb(pid: int, table: str, field: str) -> float:
    """One kB figure from /proc/PID/TABLE, in MB; 0 for a process that has gone."""
    try:
        for line in Path(f"/proc/{pid}/{table}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def start_figure(work: Path, options: list[str]) -> None:
    """Median of three starts on an empty inbox, launch to the "ready:" line."""
    seconds = []
    for attempt in range(3):
        inbox = work / f"start{attempt}"
        inbox.mkdir()
        service = Service(inbox, work / f"start{attempt}.csv", options)
        seconds.append(service.seconds_to_ready())
        service.stop()
    typer.echo(
        f"start -> ready                  median {statistics.median(seconds):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in seconds)})   target <= 1.5 s   load {load_average()}"
    )


WRITERS = ("rename", "copy", "chunked")  # how a light-load file arrives; see `deliver`
CHUNK = 4096  # bytes per write of the chunked writer
CHUNK_PAUSE = 0.01  # seconds between its writes: a slow network copy or a scanner's driver


def deliver(source: Path, target: Path, how: str) -> None:
    """Put a file into the inbox as a writer does; returns when the file is complete.

    rename: written as NAME.part, then renamed (rsync, browsers, most copy tools);
    copy: shutil.copyfile, one open-write-close (cp, a file manager);
    chunked: written 4 KB at a time with 10 ms pauses, then closed.
    """
    data = source.read_bytes()
    if how == "rename":
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        os.rename(partial, target)
    elif how == "copy":
        shutil.copyfile(source, target)
    else:
        with open(target, "wb") as file:
            for start in range(0, len(data), CHUNK):
                file.write(data[start : start + CHUNK])
                file.flush()
                time.sleep(CHUNK_PAUSE)


def latency_figure(
    service: Service, rows: RowWatcher, inbox: Path, files: list[Path], *, how: str, label: str = ""
) -> list[float]:
    """One file every 0.5 s, delivered `how`: from the file being complete to its row, p50 and p95."""
    latencies = []
    for index, source in enumerate(files):
        name = f"light{label}_{how}_{index:04d}{source.suffix}"
        deliver(source, inbox / name, how)
        complete = time.perf_counter()
        if wait_for(lambda name=name: name in rows.seen, 30.0):
            latencies.append(rows.seen[name] - complete)
        time.sleep(max(0.0, 0.5 - (time.perf_counter() - complete)))
    typer.echo(
        f"latency complete -> row, {how:<8}({len(latencies)} files{', ' + label if label else ''}, 1 every 0.5 s)"
        f"  p50 {percentile(latencies, 0.5) * 1000:.0f} ms"
        f"  p95 {percentile(latencies, 0.95) * 1000:.0f} ms   target p50 <= 50, p95 <= 150 ms   "
        f"load {load_average()}"
    )
    return latencies


def burst_figure(service: Service, rows: RowWatcher, inbox: Path, files: list[Path], batch_rate: float) -> float:
    """Write every file into the inbox at once; return the peak RSS seen while they were processed."""
    started, peak = time.perf_counter(), 0.0
    expected = len(rows.seen) + len(files)  # counted before writing: rows appear while files are written
    names = []
    for index, source in enumerate(files):
        names.append(f"burst_{index:06d}{source.suffix}")
        (inbox / names[-1]).write_bytes(source.read_bytes())
    written = time.perf_counter() - started
    while True:
        peak = max(peak, service.rss_mb())
        if wait_for(lambda: len(rows.seen) >= expected, 1.0, every=0.05):
            break
        if time.perf_counter() - started > 3600:
            raise SystemExit("burst not done within an hour")
    rate = len(files) / (max(rows.seen[name] for name in names) - started)
    typer.echo(
        f"burst of {len(files)} files (written in {written:.1f} s)    {rate:,.0f} files/s = "
        f"{rate / batch_rate:.0%} of batch ({batch_rate:,.0f}/s)   target >= 80%   load {load_average()}"
    )
    return peak


def batch_rate_of(folder: Path, work: Path, options: list[str]) -> float:
    """`digitwatch classify` on the same files, launch to exit, in files per second."""
    count = sum(1 for p in folder.iterdir() if p.name != "manifest.json")
    started = time.perf_counter()
    subprocess.run(
        [str(DIGITWATCH), "classify", str(folder), "--results", str(work / "batch.csv"), *options],
        check=True,
        capture_output=True,
    )
    return count / (time.perf_counter() - started)


def main(
    files: Annotated[int, typer.Option(min=10, help="Files for the latency figure, one every 0.5 s.")] = 60,
    burst: Annotated[int, typer.Option(min=100, help="Files in the burst.")] = 10_000,
    kind: Annotated[str, typer.Option(help="Burst files: mixed (scan-like) or mnist28 (28x28 PNGs).")] = "mixed",
    settle: Annotated[float | None, typer.Option(help="Pass --settle to the service. Default: its own.")] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Keep the rendered folders here and reuse them.", file_okay=False, resolve_path=True),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model for the service. Default: the shipped one.", exists=True, dir_okay=False, resolve_path=True
        ),
    ] = None,
    exe: Annotated[
        Path | None,
        typer.Option(help="The digitwatch executable. Default: the installed one.", exists=True, dir_okay=False),
    ] = None,
) -> None:
    """Start-up, latency, burst and memory of `digitwatch watch`."""
    global DIGITWATCH
    DIGITWATCH = exe or DIGITWATCH
    model_options = ["--model", str(model)] if model else []
    options = model_options + (["--settle", str(settle)] if settle is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench_service_") as temporary:
        work, root = Path(temporary), cache or Path(temporary)
        typer.echo(f"{os.cpu_count()} cores; preparing folders (load {load_average()})")
        light = mixed_scans(root / f"mixed_{files}", files, seed=1)
        folder = root / f"{kind}_{burst}"
        burst_files = mixed_scans(folder, burst) if kind == "mixed" else mnist_pngs(folder, burst)
        start_figure(work, options)
        batch_rate = batch_rate_of(folder, work, model_options)
        inbox, results = work / "inbox", work / "results.csv"
        inbox.mkdir()
        service = Service(inbox, results, options)
        rows = RowWatcher(results)
        try:
            service.seconds_to_ready()
            for how in WRITERS:
                latency_figure(service, rows, inbox, light, how=how)
            light_rss, light_pss = service.rss_mb(), service.pss_mb()
            peak = burst_figure(service, rows, inbox, burst_files, batch_rate)
            time.sleep(2.0)
            after_burst = service.rss_mb()
            time.sleep(IDLE_WAIT)  # idle decode workers stop after 30 s in a service that has them
            latency_figure(service, rows, inbox, light[:10], how="copy", label="again")
            typer.echo(
                f"resident memory (service + children)   light load {light_rss:.0f} MB (PSS {light_pss:.0f} MB); "
                f"2 s after the burst "
                f"{after_burst:.0f} MB, peak {peak:.0f} MB; steady state {IDLE_WAIT:.0f} s later "
                f"{service.rss_mb():.0f} MB (PSS {service.pss_mb():.0f} MB)"
                f"   target <= 200 MB steady, <= 400 MB peak   "
                f"load {load_average()}"
            )
        finally:
            rows.close()
            service.stop()
        for _, line in service.lines:
            if " WARNING " in line or " ERROR " in line:
                typer.echo(f"service said: {line}")


if __name__ == "__main__":
    typer.run(main)
