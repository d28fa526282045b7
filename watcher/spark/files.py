"""Inside Spark's Python workers: a batch of files' bytes in, their results rows out.

The same eligibility, reading (`imaging.prepare_bytes`), model and rows
(`watcher.pipeline`) as the local engine, so a file gets the same row here
as from `digitwatch classify`. The
model is loaded once per Python worker, which Spark keeps for the tasks that
follow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from watcher.model.classifier import Classifier
from watcher.pipeline.core import Page, rows_for
from watcher.pipeline.eligibility import why_ignored
from watcher.reading.imaging import prepare_bytes
from watcher.results.schema import COLUMNS, spark_ddl

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# The rows Spark receives: the results' columns, then the file's full path. `date` (of processed_at, for
# partitioning) is added by the query.
ROW_SCHEMA = f"{spark_ddl()}, path string"
ROW_FIELDS = [*COLUMNS, "path"]
WORKER_THREADS = 1  # LiteRT threads per Python worker: Spark already runs one worker per core

_classifiers: dict[str | None, Classifier] = {}  # per worker process, by model path


@dataclass(frozen=True)
class FileClassifier:
    """What each Python worker needs to turn files into rows; Spark pickles it and calls it per partition."""

    root: str  # the source folder as Spark names files in it (file:/..., s3a://bucket/...), no trailing /
    model: str | None  # None: the shipped model, installed with the package on every executor
    max_pages: int
    patterns: tuple[str, ...]

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Spark's mapInPandas entry point: frames of (path, content) in, frames of ROW_SCHEMA out."""
        import pandas as pd

        for batch in batches:
            rows = self.rows(zip(batch["path"], batch["content"], strict=True))
            yield pd.DataFrame(rows, columns=ROW_FIELDS).astype({"digit": "Int32", "page": "Int32"})

    def rows(self, files: Iterator[tuple[str, bytes]]) -> list[tuple[Any, ...]]:
        """The results rows for (path, bytes) pairs: one per file, or per page of a document."""
        paths: list[str] = []
        pages: list[Page] = []
        for path, content in files:
            name = self.name_of(path)
            skip = why_ignored(PurePosixPath(name), patterns=self.patterns)
            if skip is not None:  # the local `classify` of the folder would skip it too
                log.info("ignored %s: %s", name, skip.why)
                continue
            for page in prepare_bytes(bytes(content), max_pages=self.max_pages):
                paths.append(path)
                pages.append(Page(name, page))
        rows = rows_for(_classifier(self.model), pages)
        return [(*row.values(), path) for row, path in zip(rows, paths, strict=True)]

    def name_of(self, path: str) -> str:
        """The file's name relative to the source folder, with '/' separators, as local `classify` names it."""
        prefix = self.root + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path


def _classifier(model: str | None) -> Classifier:
    """The worker's model, loaded on first use."""
    if model not in _classifiers:
        _classifiers[model] = Classifier(model, threads=WORKER_THREADS)
    return _classifiers[model]
