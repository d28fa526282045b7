"""Pages read from files become results rows: one model call per batch, one row per page.

Every engine ends here: the service's processor, local `classify` and the
Spark workers each hand over the pages they read (`Prepared`, from
`watcher.reading.imaging`) with the name the row gets, and get the rows back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from watcher.clock import utc_now
from watcher.protocol import Prediction, Status
from watcher.reading.imaging import Prepared
from watcher.results.schema import ResultRow

log = logging.getLogger(__name__)


class Model(Protocol):
    """What the pipeline needs of a model: predictions for prepared pages, in order."""

    def classify_prepared(self, items: Sequence[Prepared]) -> list[Prediction]:
        """One prediction per page, in order."""
        ...


@dataclass(frozen=True)
class Page:
    """A page read from a file, and the name its row gets (the file's name in the CSV)."""

    name: str
    prepared: Prepared


def rows_for(model: Model, pages: Sequence[Page], *, processed_at: str = "") -> list[ResultRow]:
    """The results rows of the pages, in order: one model call for all, all stamped with one time."""
    if not pages:
        return []
    predictions = classify_isolating(model, [page.prepared for page in pages])
    stamp = processed_at or utc_now()
    return [
        ResultRow.of(page.name, prediction, sha256=page.prepared.sha256, page=page.prepared.page, processed_at=stamp)
        for page, prediction in zip(pages, predictions, strict=True)
    ]


def classify_isolating(model: Model, items: Sequence[Prepared]) -> list[Prediction]:
    """One model call for the whole batch; if that fails, one call per page, so only the culprit gets an
    error row and the rest of the batch its answers."""
    try:
        return model.classify_prepared(items)
    except Exception:
        log.exception("classifying a batch of %d rows failed; classifying them one by one", len(items))
    predictions = []
    for item in items:
        try:
            predictions.extend(model.classify_prepared([item]))
        except Exception as exc:
            predictions.append(Prediction(status=Status.ERROR, detail=f"classification failed: {exc}"))
    return predictions
