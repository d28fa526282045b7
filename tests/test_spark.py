"""`classify --engine spark` in a real Spark (local[2]) run by the installed console script.

Each run starts a JVM (5-10 s), so the scenarios are few and each checks
several things: the rows Spark commits match local `classify` for the same
files, a driver killed with SIGKILL and started again loses no file and
writes none twice, a second run adds nothing, a file added while streaming
is read, SIGTERM stops a streaming run, and files that are not ours stay
where they are. Without Java, pyspark or pyarrow these tests skip, or fail
where DIGITWATCH_REQUIRE_SPARK=1 (tests/requirements.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from document_files import corrupt_pdf, encrypted_pdf, enormous_page_pdf, write_pdf, write_tiff
from requirements import require_or_skip
from service_helpers import alive, bomb_png, descendants, png_bytes, read_rows, wait_for
from watcher.batch.classify import classify
from watcher.results.parquet import SINK_LOG, committed_files, read_spark_output
from watcher.results.schema import COLUMNS
from watcher.settings import ClassifySettings
from watcher.spark.session import SparkUnavailable, check_spark

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def spark_installed() -> None:
    """The engine's own check (pyspark, pyarrow and a Java to run), under requirements.py's rule."""
    try:
        check_spark()
    except SparkUnavailable as missing:
        require_or_skip("spark", str(missing))


RUN_TIMEOUT = 240.0  # seconds for one Spark run of a few hundred files on two busy cores
COMPARED = ["digit", "confidence", "status", "detail", "sha256"]  # what must match local classify
NOT_OURS = ("~$lock.png", ".hidden.png", "notes.txt")  # no row, and never moved or deleted


class SparkRun:
    """`digitwatch classify --engine spark` in a subprocess (its own process group), logging to a file."""

    def __init__(self, exe: str, source: Path, out: Path, *args: object) -> None:
        self.log_path = out.parent / f"spark-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        command = [exe, "classify", str(source), "--engine", "spark", "--out", str(out), "--master", "local[2]"]
        env = dict(os.environ, TMPDIR=str(out.parent))  # Spark's scratch folders go with the test's folder
        self.process = subprocess.Popen(
            [*command, *map(str, args)], stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = RUN_TIMEOUT) -> str:
        """Wait for it to exit 0; return its log."""
        code = self.process.wait(timeout=timeout)
        assert code == 0, self.log()
        return self.log()

    def family(self) -> set[int]:
        """The driver and everything it started: the JVM and its Python workers."""
        return {self.process.pid, *descendants(self.process.pid)}

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture
def spark_run(digitwatch_exe):
    started: list[SparkRun] = []

    def start(source: Path, out: Path, *args: object) -> SparkRun:
        run = SparkRun(digitwatch_exe, source, out, *args)
        started.append(run)
        return run

    yield start
    for run in started:
        run.close()


def wait_gone(pids: set[int], timeout: float = 30.0) -> None:
    """Wait for every process named to exit: a killed driver's JVM and workers must not outlive it."""
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=timeout, what="the driver's processes to exit")


def mixed_source(folder: Path, digits: np.ndarray, count: int) -> Path:
    """`count` files as scanners leave them: PNGs (some in sub-folders, odd names), JPEGs, PDFs, TIFFs,
    and hostile and broken files; plus files that are not ours."""
    hostile = {
        "broken.png": b"not an image at all",
        "truncated.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        "locked.pdf": encrypted_pdf(),
        "corrupt.pdf": corrupt_pdf(),
        "enormous-page.pdf": enormous_page_pdf(),
        "a pdf named.png": corrupt_pdf(),
    }
    (folder / "sub" / "deeper").mkdir(parents=True)
    for name, data in hostile.items():
        (folder / name).write_bytes(data)
    bomb_png(folder / "bomb.png")
    write_pdf(folder / "form.pdf", list(digits[:2]))
    write_tiff(folder / "fax.tif", list(digits[2:5]), compression="group4")
    written = len(hostile) + 3
    for index in range(count - written):
        digit = digits[index % len(digits)]
        place = folder / ("sub" if index % 3 == 1 else "sub/deeper" if index % 3 == 2 else "")
        if index % 10 == 0:
            Image.fromarray(255 - digit).save(place / f"scan {index} é.JPG", quality=95)
        else:
            (place / f"{'=' if index == 9 else ''}digit-{index}.png").write_bytes(png_bytes(digit))
    for name in NOT_OURS:
        (folder / name).write_bytes(png_bytes(digits[0]))
    return folder


def local_rows(source: Path, tmp_path: Path) -> pd.DataFrame:
    """What local `classify` writes for the same folder."""
    results = tmp_path / "local.csv"
    classify(ClassifySettings(paths=(source,), results=results), workers=1)
    return read_rows(results).set_index(["filename", "page"])


def exported(digitwatch_exe: str, out: Path, csv_path: Path) -> pd.DataFrame:
    """The results CSV `digitwatch export --parquet` makes of a Spark output."""
    csv_path.unlink(missing_ok=True)
    done = subprocess.run(
        [digitwatch_exe, "export", "--parquet", str(out), "--out", str(csv_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return read_rows(csv_path)


def in_progress(checkpoint: Path) -> bool:
    """True while a micro-batch after the first is planned (its offsets written) but not yet committed."""
    offsets = {p.name for p in (checkpoint / "offsets").glob("[0-9]*")}
    commits = {p.name for p in (checkpoint / "commits").glob("[0-9]*")}
    return bool(commits) and bool(offsets - commits)


def test_a_killed_driver_restarted_reads_every_file_once_as_local_classify_does(
    tmp_path, mnist_small, spark_run, digitwatch_exe
):
    source = mixed_source(tmp_path / "scans", mnist_small["x_test"][:50], 500)
    out = tmp_path / "parquet"

    first = spark_run(source, out, "--max-files-per-trigger", 60)
    wait_for(lambda: in_progress(out / "_checkpoint"), timeout=RUN_TIMEOUT, what="a micro-batch after the first")
    family = first.family()
    first.process.send_signal(signal.SIGKILL)  # the driver alone, mid-batch: Spark's own processes must follow
    wait_gone(family)
    committed_before = len(committed_files(out))
    assert committed_before > 0, first.log()

    log = spark_run(source, out).wait()  # the rest in one micro-batch
    assert "done" in log
    rows = exported(digitwatch_exe, out, tmp_path / "spark.csv")
    assert list(rows.columns) == COLUMNS
    keys = list(zip(rows["filename"], rows["page"], strict=True))
    assert len(keys) == len(set(keys)), "a file (or page) was written twice"
    raw = [(r.filename, r.page) for r in read_spark_output(out)]
    assert len(raw) == len(set(raw)), "the committed Parquet holds a file twice"

    local = local_rows(source, tmp_path)
    spark = rows.set_index(["filename", "page"])
    missing, extra = set(local.index) - set(spark.index), set(spark.index) - set(local.index)
    assert not missing and not extra, f"missing: {missing}, extra: {extra}"
    assert len(spark) == 500 + 1 + 2  # the form's 2 pages and the fax's 3 give one row each
    pd.testing.assert_frame_equal(spark.loc[local.index, COMPARED], local[COMPARED])
    errors = spark[spark["status"] == "error"]
    assert {"broken.png", "truncated.jpg", "locked.pdf", "corrupt.pdf", "bomb.png", "a pdf named.png"} <= set(
        errors.index.get_level_values("filename")
    )
    assert "'=digit-9.png" in set(spark.index.get_level_values("filename")), "formula names are neutralised"

    before = sorted(map(str, committed_files(out)))
    again = spark_run(source, out).wait()
    assert "0 new files" in again
    assert sorted(map(str, committed_files(out))) == before
    for name in NOT_OURS:
        assert (source / name).is_file()


def test_a_file_added_while_streaming_is_read_and_sigterm_stops_the_run(
    tmp_path, mnist_small, spark_run, digitwatch_exe
):
    digits = mnist_small["x_test"]
    source = tmp_path / "scans"
    source.mkdir()
    for index in range(4):
        (source / f"first-{index}.png").write_bytes(png_bytes(digits[index]))
    (source / "~$lock.png").write_bytes(png_bytes(digits[0]))
    out, processed = tmp_path / "parquet", tmp_path / "processed"
    run = spark_run(source, out, "--watch", "--interval", 0.5, "--after", "move", "--processed-dir", processed)

    def committed_names() -> set[str]:
        return {r.filename for r in read_spark_output(out)} if (out / SINK_LOG).is_dir() else set()

    wait_for(lambda: len(committed_names()) == 4, timeout=RUN_TIMEOUT, what="the first files' rows")
    staged = source / ".late.png"  # written under a hidden name, then renamed in, as uploads should be
    staged.write_bytes(png_bytes(digits[9]))
    staged.rename(source / "late.png")
    wait_for(lambda: "late.png" in committed_names(), timeout=60, what="the file added while streaming")
    assert run.process.poll() is None, "a streaming run keeps going"

    family = run.family()
    started = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0, run.log()
    stopped_in = time.monotonic() - started
    wait_gone(family)
    assert stopped_in < 30, f"SIGTERM took {stopped_in:.1f} s"
    assert "stopped by a signal" in run.log()
    late = exported(digitwatch_exe, out, tmp_path / "spark.csv").set_index("filename").loc["late.png"]
    assert (late["digit"], late["status"]) == (str(mnist_small["y_test"][9]), "ok")
    # Spark moves a batch's files once the next batch starts: the first four are in processed/ by now.
    moved = {path.name for path in processed.rglob("*.png")}
    assert {f"first-{index}.png" for index in range(4)} <= moved
    assert (source / "~$lock.png").is_file(), "a lock file is not ours to move"
