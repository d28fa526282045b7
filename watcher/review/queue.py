"""Which results rows need a person, and what people said of them; kept up to date as both files grow."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.protocol import Status
from watcher.results.corrections import Correction, corrections_by_file, read_corrections, winning
from watcher.results.reader import ResultsReader
from watcher.results.schema import ResultRow
from watcher.review.spot import Why, draw, drawn, why_queued

log = logging.getLogger(__name__)

REVIEWABLE = (Status.UNCERTAIN, Status.NO_DIGIT, Status.OK, Status.ERROR)
ContentKey = tuple[str, int | None, str]  # filename, page, sha256: one reading of one content


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: statuses (an `ok` row only under `below`, or drawn by a spot check), dates, a digit,
    reviewed rows or not."""

    statuses: frozenset[Status] = frozenset(REVIEWABLE)
    below: float = 0.9
    spot_check: float = 0.0  # percent of the ok rows at or above `below` drawn into the queue too
    since: str = ""  # YYYY-MM-DD, inclusive; "" for no bound
    until: str = ""  # YYYY-MM-DD, inclusive
    digit: int | None = None
    reviewed: bool = False  # show rows already corrected too
    error_days: int = 7  # with no date bound, error rows older than this are left out

    def wants(self, record: ResultRow, now: datetime, *, place: Callable[[ResultRow], float] = draw) -> bool:
        """Whether the record needs a person under this filter; `place` is `spot.draw`, or a cache of it."""
        if record.status not in self.statuses:
            return False
        why = self.why(record)
        if why == Why.SPOT_CHECK and self.spot_check <= 0:
            return False  # most rows of a large file: out before any other test
        day = record.processed_at[:10]
        if (self.since and day < self.since) or (self.until and day > self.until):
            return False
        if record.status == Status.ERROR and not (self.since or self.until):
            recent = (now - timedelta(days=self.error_days)).isoformat()[:10]
            if day < recent:
                return False
        if self.digit is not None and record.digit != self.digit:
            return False
        # Last, as the dearest test: it hashes the row (once per reading, with the queue's cache).
        return why != Why.SPOT_CHECK or drawn(place(record), self.spot_check)

    def why(self, record: ResultRow) -> Why:
        """Why the record is in the queue, when it is."""
        return why_queued(record, self.below)


@dataclass(frozen=True)
class QueueItem:
    """A reading a person should look at, with the correction it already has (if any)."""

    record: ResultRow
    correction: Correction | None
    why: Why = Why.STATUS


@dataclass
class Loading:
    """How far the first reading of the results has come."""

    bytes_read: int = 0
    bytes_total: int = 0
    rows: int = 0
    done: bool = False
    error: str = ""


@dataclass
class _Files:
    readings: dict[ContentKey, ResultRow] = field(default_factory=dict)  # the latest row per content
    history: dict[str, list[ResultRow]] = field(default_factory=dict)  # every row per file name
    corrections: dict[tuple[str, int | None], list[Correction]] = field(default_factory=dict)
    corrections_stamp: tuple[int, int] | None = None
    places: dict[ResultRow, float] = field(default_factory=dict)  # spot.draw of each sure ok reading, once


class ReviewQueue:
    """The results and corrections files as read so far; `refresh()` reads what was added since."""

    def __init__(self, results: Path, corrections: Path) -> None:
        self.corrections_path = corrections
        self.loading = Loading()
        self._reader = ResultsReader(results)
        self._files = _Files()
        self._lock = threading.Lock()

    def refresh(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Read rows and corrections added since the last call (the first call reads everything).

        `progress(bytes_read, bytes_total)` is called as the results are read.
        """
        with self._lock:
            records, restarted = self._reader.read_new(progress)
            if restarted:
                self._files = _Files()
            for record in records:
                self._files.readings[(record.filename, record.page, record.sha256)] = record
                self._files.history.setdefault(record.filename, []).append(record)
            self.loading.rows += len(records)
            self._reload_corrections()
            self.loading.done = True

    def _reload_corrections(self) -> None:
        try:
            stat = os.stat(self.corrections_path)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._files.corrections_stamp:
            self._files.corrections = corrections_by_file(read_corrections(self.corrections_path))
            self._files.corrections_stamp = stamp

    def items(self, wanted: QueueFilter, *, now: datetime | None = None) -> list[QueueItem]:
        """The readings that need a person, oldest first; corrected ones only when the filter asks."""
        now = now or datetime.now(UTC)
        with self._lock:
            found = []
            for record in self._files.readings.values():
                if not wanted.wants(record, now, place=self._place):
                    continue
                correction = winning(self._files.corrections.get(record.key, []), record.sha256)
                if correction is None or wanted.reviewed:
                    found.append(QueueItem(record, correction, wanted.why(record)))
            return found

    def _place(self, record: ResultRow) -> float:
        """`spot.draw(record)`, hashed once per reading: a page load then costs a lookup per sure row."""
        found = self._files.places.get(record)  # keyed by the record itself: no key tuple to hold
        if found is None:
            found = self._files.places[record] = draw(record)
        return found

    def reading(self, filename: str, page: int | None, sha256: str) -> ResultRow | None:
        """The row recorded for this content of this file (page), or None: only such files are shown."""
        with self._lock:
            return self._files.readings.get((filename, page, sha256))

    def history(self, filename: str) -> tuple[list[ResultRow], list[Correction]]:
        """Every row written for a file name, oldest first, and every correction of it."""
        with self._lock:
            records = list(self._files.history.get(filename, []))
            corrections = [c for (name, _), found in self._files.corrections.items() if name == filename for c in found]
            return records, corrections
