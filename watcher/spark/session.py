"""Find Java and pyspark, and start a Spark session set up for digitwatch's query."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.reading.pool import WORKER_ENV

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JAVA_HINT = "install Java 17 (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
# Files per Arrow batch handed to a Python worker: each holds the files' bytes, so a batch of
# Spark's default 10,000 scans could take gigabytes; 128 still fills the model's batches.
FILES_PER_ARROW_BATCH = 128
# What Spark counts for opening a file when it packs files into tasks (default 4 MB, sized for
# splittable data files): a scan costs its decoding, not its opening, and at 4 MB a task held ~30
# small scans, so task start-up weighed on 3,000 files (in batches 20 s at 4 MB, 15.6 s at 1 MB).
FILE_OPEN_COST = 1 << 20  # bytes
# On one machine the JVM shares the cores with the Python workers, and a run is minutes, not days:
# the JIT's quick compiler alone leaves them more (3,000 files, launch to exit: 26-28 s against 30-33 s).
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


class SparkUnavailable(Exception):
    """pyspark or Java is missing, or Spark could not start."""


def check_spark() -> None:
    """Raise SparkUnavailable, saying what to install, when pyspark, pyarrow or Java is missing."""
    try:
        import pyarrow  # noqa: F401  (Spark's pandas functions move data with Arrow)
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailable(
            f"the Spark engine needs pyspark and pyarrow ({exc.name} is missing); "
            "install them with: pip install 'digitwatch[spark]'"
        ) from exc
    if _java() is None:
        raise SparkUnavailable(f"the Spark engine needs Java, and none was found; {JAVA_HINT}")


def _java() -> Path | None:
    """The java Spark will run: JAVA_HOME's when set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return java if java.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def start_session(master: str | None, *, app_name: str = "digitwatch") -> SparkSession:
    """A Spark session on `master` (None: what spark-submit set, else local[*]); raises SparkUnavailable."""
    check_spark()
    # pyspark 4 warns that pandas 3 is "not fully supported"; the suite checks that what we use of it (Arrow
    # batches in mapInPandas) gives the local engine's rows, so the warning would only alarm people.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    # Executors on this machine run this Python (with digitwatch installed), not whatever `python3` is first
    # on PATH; spark-submit and a cluster's own settings still win, as they set these themselves.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started us and set the master and JVM
    master = master or (None if submitted else "local[*]")
    if master:
        builder = builder.master(master)
    if master and master.startswith("local") and not submitted and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        builder = builder.config("spark.driver.extraJavaOptions", LOCAL_JVM_OPTIONS)
    builder = (
        builder.config("spark.ui.showConsoleProgress", "false")  # progress is ours, on stderr, one line per batch
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(FILES_PER_ARROW_BATCH))
        .config("spark.sql.files.ignoreMissingFiles", "true")  # a file deleted after listing: no row, no failure
        .config("spark.sql.session.timeZone", "UTC")  # the date partition is processed_at's UTC date
        .config("spark.sql.adaptive.enabled", "false")  # streaming cannot use it, and says so at every start
        .config("spark.sql.files.openCostInBytes", str(FILE_OPEN_COST))
    )
    for name, value in WORKER_ENV.items():  # one thread per Python worker, as the local engine's workers
        builder = builder.config(f"spark.executorEnv.{name}", value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j and the launcher raise plain exceptions: say what is known
        raise SparkUnavailable(f"Spark could not start: {exc}; {JAVA_HINT}") from exc
    session.sparkContext.setLogLevel("WARN")
    # A micro-batch's files are looked up again when it is planned; past 32 paths Spark does that in a
    # job of one task per file (3,000 tasks for 3,000 files; planning 500 files took 3.4 s). One task per core will do.
    session.conf.set(
        "spark.sql.sources.parallelPartitionDiscovery.parallelism", str(session.sparkContext.defaultParallelism)
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)  # it logs each connection it closes at INFO
    return session
