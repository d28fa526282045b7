"""Run `classify --engine spark`: a Structured Streaming query from files to Parquet, exactly once.

Spark's `binaryFile` source lists the source folder (or bucket) and hands
each new file's bytes to `files.FileClassifier` in the Python workers; the
Parquet sink writes the rows, partitioned by date. The checkpoint records
which files each micro-batch took and the sink's log records which Parquet
files each batch committed, so a query killed at any point and started again
with the same checkpoint neither loses a file nor writes one twice.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watcher.model.classifier import Classifier
from watcher.protocol import After
from watcher.results.parquet import SINK_LOG, SparkOutputError
from watcher.settings import SparkSettings, processed_beside
from watcher.signals import SignalStop, stopping_on_signals
from watcher.spark.files import ROW_SCHEMA, FileClassifier
from watcher.spark.following import SparkJobError, SparkSummary, follow
from watcher.spark.session import check_spark, start_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger(__name__)

# binaryFile's own columns; a streaming file source needs its schema given.
BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length long, content binary"
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # s3a://bucket/x, hdfs://nn/x, file:/x: Spark's to read


def run_on_spark(
    settings: SparkSettings, *, stop: threading.Event | None = None, progress: Callable[[str], None] = log.info
) -> SparkSummary:
    """Classify every new file in the source into the Parquet output; without `watch`, exit when none are left.

    SIGTERM and SIGINT (or `stop`) end the query between polls; what was
    committed stays, and a run with the same checkpoint goes on from there.
    """
    asked = SignalStop(stop)
    check_spark()  # what to install, before anything else is done
    _check_paths(settings)
    Classifier(settings.model)  # a model that will not load is refused here, not in every worker
    with stopping_on_signals(asked) as take_signals_back:  # a stop during Spark's start counts too
        spark = start_session(settings.master)
        try:
            take_signals_back()  # pyspark's context puts in its own SIGINT handler as it starts
            if asked.is_set():
                return SparkSummary(files=0, batches=0, stopped=True)
            return follow(_start_query(spark, settings), asked, progress)
        finally:
            spark.stop()


def _start_query(spark: SparkSession, settings: SparkSettings) -> StreamingQuery:
    from pyspark.sql import functions as F

    classify = FileClassifier(
        root=_qualified(spark, settings.source),
        model=str(settings.model) if settings.model else None,
        max_pages=settings.max_pages,
        patterns=settings.patterns,
    )
    files = _source(spark, settings).select("path", "content")
    rows: DataFrame = files.mapInPandas(classify, ROW_SCHEMA).withColumn(
        "date", F.to_date(F.substring("processed_at", 1, 10))
    )
    writer = (
        rows.writeStream.format("parquet")
        .option("path", settings.out)
        .option("checkpointLocation", settings.checkpoint_location())
        .partitionBy("date")
        .outputMode("append")
        .queryName("digitwatch")
    )
    if settings.watch:
        writer = writer.trigger(processingTime=f"{settings.trigger_seconds} seconds")
    else:
        writer = writer.trigger(availableNow=True)
    return writer.start()


def _source(spark: SparkSession, settings: SparkSettings) -> DataFrame:
    """The binaryFile stream over the source: image names only, in every sub-folder, cleaned as --after says."""
    reader = (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .option("pathGlobFilter", name_glob(settings.patterns))
        .option("recursiveFileLookup", "true")
    )
    if settings.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(settings.max_files_per_trigger))
    if settings.after == After.MOVE:
        reader = reader.option("cleanSource", "archive").option("sourceArchiveDir", _archive_dir(settings))
    elif settings.after == After.DELETE:
        reader = reader.option("cleanSource", "delete")
    return reader.load(settings.source)


def name_glob(patterns: tuple[str, ...]) -> str:
    """One Hadoop glob for file names matching any of the shell patterns, case-insensitively.

    pathGlobFilter is case-sensitive and takes a single pattern, so `*.png`
    and `*.PDF` become `{[^~]*.[pP][nN][gG],[^~]*.[pP][dD][fF]}`. A name
    starting with `~` is left out: office lock files (`~$form.png`) are not
    ours, and with --after Spark would move or delete every file it lists.
    (Spark itself leaves out names starting with `.` or `_`.)
    """

    def any_case(pattern: str) -> str:
        cased = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in pattern)
        return "[^~]" + cased if cased.startswith("*") else cased

    return "{" + ",".join(any_case(pattern) for pattern in patterns) + "}"


def _archive_dir(settings: SparkSettings) -> str:
    if settings.processed_dir:
        return settings.processed_dir
    if _is_uri(settings.source):
        raise SparkJobError("--after move with a URI as the source needs --processed-dir")
    return str(processed_beside(Path(settings.source)))


def _qualified(spark: SparkSession, source: str) -> str:
    """The source as Spark writes the paths of its files (file:/data/in, s3a://bucket/in), without a final /."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(source)
    file_system = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return str(file_system.makeQualified(path).toString()).rstrip("/")


def _is_uri(location: str) -> bool:
    return URI.match(location) is not None


def _check_paths(settings: SparkSettings) -> None:
    """Refuse a local source that is no folder, and a local output folder that holds files but is no
    digitwatch Parquet output (no sink log)."""
    if not _is_uri(settings.source) and not Path(settings.source).is_dir():
        raise SparkJobError(f"no such folder: {settings.source} (the Spark engine reads one folder or URI)")
    if _is_uri(settings.out):
        return
    out = Path(settings.out)
    if out.exists() and not out.is_dir():
        raise SparkOutputError(f"{out} is a file; --out takes a folder for the Parquet output")
    ours = {SINK_LOG, "_checkpoint"}  # a first run killed before its first commit leaves only the checkpoint
    if out.is_dir() and any(entry.name not in ours for entry in out.iterdir()) and not (out / SINK_LOG).is_dir():
        raise SparkOutputError(
            f"{out} holds files but is not a digitwatch Parquet output (no {SINK_LOG} folder); "
            "pass an empty or new folder as --out"
        )
