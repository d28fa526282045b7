"""Inside Spark's Python workers: a batch of files' bytes in, their results rows out.

The same reading (`imaging.prepare_bytes`) and the same model as the local
service, so a file gets the same row here as from `digitwatch classify`. The
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
from watcher.reading.imaging import Prepared, prepare_bytes
from watcher.results.rows import ResultRow, utc_now
from watcher.service.inbox import why_ignored
from watcher.service.processing import classify_isolating

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# The rows Spark receives, in the results CSV's column order, then the file's full path. `date` (of
# processed_at, for partitioning) is added by the query.
ROW_SCHEMA = (
    "filename string, digit int, confidence double, status string, processed_at string, "
    "detail string, sha256 string, page int, path string"
)
ROW_FIELDS = [field.split()[0] for field in ROW_SCHEMA.split(", ")]
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
        items: list[tuple[str, str, Prepared]] = []
        for path, content in files:
            name = self.name_of(path)
            reason = why_ignored(PurePosixPath(name), patterns=self.patterns)
            if reason is not None:  # the local `classify` of the folder would skip it too
                log.info("ignored %s: %s", name, reason)
                continue
            items.extend((path, name, row) for row in prepare_bytes(bytes(content), max_pages=self.max_pages))
        predictions = classify_isolating(_classifier(self.model), [row for _, _, row in items])
        processed_at = utc_now()
        return [
            _cells(ResultRow(filename=name, prediction=p, sha256=row.sha256, processed_at=processed_at, page=row.page))
            + (path,)
            for (path, name, row), p in zip(items, predictions, strict=True)
        ]

    def name_of(self, path: str) -> str:
        """The file's name relative to the source folder, with '/' separators, as local `classify` names it."""
        prefix = self.root + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path


def _cells(row: ResultRow) -> tuple[Any, ...]:
    """A row's typed values in the CSV's column order; the text columns exactly as the CSV would hold them."""
    p = row.prediction
    text = row.cells(neutralise_formulas=False)  # the detail on one line, as the CSV writer puts it
    return (row.filename, p.digit, p.confidence, text[3], text[4], text[5], row.sha256, row.page)


def _classifier(model: str | None) -> Classifier:
    """The worker's model, loaded on first use."""
    if model not in _classifiers:
        _classifiers[model] = Classifier(model, threads=WORKER_THREADS)
    return _classifiers[model]
