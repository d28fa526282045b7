"""Read a Spark Parquet output the way Spark does: only the files its sink log says were committed.

A micro-batch killed half-way can leave Parquet files in the output that no
batch committed; the batch runs again after a restart and writes its rows
anew. Spark's readers go by the log in `_spark_metadata` and so never see the
leftovers; `digitwatch export --parquet` reads the log the same way, with
pyarrow, and needs no Java. The log's format is Spark's: one file per batch
(`0`, `1`, ...), and every tenth a `.compact` file holding all before it,
each a version line then a JSON object per Parquet file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from watcher.results.schema import COLUMNS, ResultRow

SINK_LOG = "_spark_metadata"
LOG_VERSION = "v1"
_BATCH_FILE = re.compile(r"^(\d+)(\.compact)?$")


class SparkOutputError(Exception):
    """The folder is not a digitwatch Parquet output, or cannot be read."""


def committed_files(out: Path) -> list[Path]:
    """The Parquet files the output's committed batches added, in batch order."""
    log_dir = out / SINK_LOG
    if not log_dir.is_dir():
        raise SparkOutputError(f"{out} is not a Spark Parquet output: it has no {SINK_LOG} folder")
    batches = {int(m[1]): bool(m[2]) for f in log_dir.iterdir() if (m := _BATCH_FILE.match(f.name))}
    compacted = [batch for batch, is_compact in batches.items() if is_compact]
    start = max(compacted, default=0 if 0 in batches else -1)
    files: dict[str, Path] = {}
    for batch in sorted(b for b in batches if b >= start):
        name = f"{batch}.compact" if batches[batch] else str(batch)
        for entry in _entries(log_dir / name):
            local = _inside(out, entry["path"])
            if entry.get("action", "add") == "delete":
                files.pop(str(local), None)
            else:
                files[str(local)] = local
    return list(files.values())


def _entries(log_file: Path) -> list[dict[str, str]]:
    try:
        lines = log_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SparkOutputError(f"cannot read Spark's log {log_file}: {exc}") from exc
    if not lines or lines[0] != LOG_VERSION:
        raise SparkOutputError(f"{log_file} is not a Spark sink log this version reads (expected {LOG_VERSION})")
    try:
        return [json.loads(line) for line in lines[1:] if line.strip()]
    except ValueError as exc:
        raise SparkOutputError(f"{log_file} is damaged: {exc}") from exc


def _inside(out: Path, uri: str) -> Path:
    """A logged file's place in `out`: its partition folder and name, wherever the output has been moved since."""
    logged = PurePosixPath(unquote(urlparse(uri).path))
    return out / logged.parent.name / logged.name


class ParquetOutput:
    """A `classify --engine spark` output as a read-only `ResultSource`."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def read(self) -> list[ResultRow]:
        """Every committed row, oldest first."""
        return read_spark_output(self.out)


def read_spark_output(out: Path) -> list[ResultRow]:
    """Every committed row of a `classify --engine spark` output, oldest first (pyarrow; no Spark needed)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise SparkOutputError(
            "reading Parquet needs pyarrow; install it with: pip install 'digitwatch[spark]'"
        ) from exc
    rows: list[ResultRow] = []
    for path in committed_files(out):
        try:
            table = pq.read_table(path, columns=COLUMNS)
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
            raise SparkOutputError(f"cannot read {path}: {exc}") from exc
        rows.extend(ResultRow.from_values(values) for values in table.to_pylist())
    return sorted(rows, key=lambda r: (r.processed_at, r.filename, r.page or 0))
