"""Follow a running streaming query from the driver: a line per micro-batch, stop when asked (SIGTERM or
SIGINT, through `watcher.signals`), and its failure raised as ours."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watcher.signals import SignalStop

if TYPE_CHECKING:
    from pyspark.sql.streaming.listener import StreamingQueryProgress
    from pyspark.sql.streaming.query import StreamingQuery

POLL_SECONDS = 0.5  # how often the driver looks at the query: a stop request waits at most this long


class SparkJobError(Exception):
    """The streaming query failed, or its settings cannot work."""


@dataclass(frozen=True)
class SparkSummary:
    """What a run took in: files read and micro-batches committed; `stopped` when a signal ended it."""

    files: int
    batches: int
    stopped: bool = False


def follow(query: StreamingQuery, stop: SignalStop, progress: Callable[[str], None]) -> SparkSummary:
    """Wait for the query to end (or for a stop, which stops it), saying a line per micro-batch; raise
    SparkJobError if it failed.

    The query is looked at every POLL_SECONDS: a stop signal only marks `stop`
    (see `watcher.signals`), and is seen at the next look.
    """
    from pyspark.errors import StreamingQueryException

    counted = _BatchCounter(progress)
    try:
        while query.isActive and not stop.is_set():
            query.awaitTermination(POLL_SECONDS)  # type: ignore[arg-type]  # typed int, takes seconds as float
            counted.add(query.recentProgress)
        if stop.is_set():
            query.stop()
        failure = query.exception()
    except StreamingQueryException as exc:
        failure = exc
    if failure is not None:
        raise SparkJobError(f"the Spark query failed: {failure}") from None
    counted.add(query.recentProgress)
    return SparkSummary(files=counted.files, batches=counted.batches, stopped=stop.is_set())


class _BatchCounter:
    """Counts the files of each micro-batch once, saying a line per batch that read any."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.files = self.batches = 0
        self._seen: set[int] = set()

    def add(self, reports: Sequence[StreamingQueryProgress]) -> None:
        """Take in the query's recent progress reports (Spark keeps the last hundred or so)."""
        for report in reports:
            batch, count = report.batchId, report.numInputRows
            if batch in self._seen or not count:
                continue
            self._seen.add(batch)
            self.files, self.batches = self.files + count, self.batches + 1
            seconds = report.durationMs.get("triggerExecution", 0) / 1000
            self.progress(f"batch {batch}: {count:,} files in {seconds:.1f} s; {self.files:,} so far")
