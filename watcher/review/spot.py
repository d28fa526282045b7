"""Why a row is in front of a person, and which `ok` rows a spot check draws.

An `ok` row at or above the review threshold (`--below`) is queued only when
a spot check draws it. The draw is a pure function of the row, not a random
generator: the first 8 bytes of SHA-256 of `filename NUL page NUL sha256`,
read as a fraction of 2**64, must be under the share asked for. So the same
rows are drawn on every page load, after a restart and on any machine, a
larger share keeps the rows a smaller one drew, and the draw knows nothing of
the digit or the confidence, so the rows drawn are a fair sample of the `ok`
rows nobody else looks at.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from watcher.protocol import Status
from watcher.results.schema import ResultRow

DRAW_BYTES = 8  # of the row's hash: 2**64 steps, far finer than any share asked for


class Why(StrEnum):
    """Why a row needs (or got) a person's look."""

    STATUS = "status"  # uncertain, no_digit or error: queued for what the model said
    LOW_CONFIDENCE = "low confidence"  # ok, but under the review threshold
    SPOT_CHECK = "spot check"  # ok at or above the threshold: only a spot check shows it


def why_queued(record: ResultRow, below: float) -> Why:
    """Why the row is (or would be) in the queue when `ok` rows under `below` are queued for their confidence."""
    if record.status != Status.OK:
        return Why.STATUS
    if record.confidence is not None and record.confidence < below:
        return Why.LOW_CONFIDENCE
    return Why.SPOT_CHECK


def draw(record: ResultRow) -> float:
    """The row's fixed place in [0, 1): a spot check of PCT% draws the rows placed under PCT / 100."""
    key = f"{record.filename}\0{'' if record.page is None else record.page}\0{record.sha256}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:DRAW_BYTES], "big") / (1 << (8 * DRAW_BYTES))


def drawn(place: float, percent: float) -> bool:
    """Whether a spot check of `percent`% draws a row at this place (see `draw`)."""
    return place < percent / 100


def spot_checked(record: ResultRow, *, below: float, percent: float) -> bool:
    """Whether a spot check of `percent`% puts this row in the queue (an `ok` row at or above `below` only)."""
    return why_queued(record, below) == Why.SPOT_CHECK and drawn(draw(record), percent)
