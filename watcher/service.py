"""The watch service: backlog first, then events as hints, stable files in micro-batches, until stopped.

One worker thread (the caller's) owns all state. The watchdog observer only
puts hints on a queue (`watcher.observing`); a stability tracker holds each
nominated file until it is closed and quiet (`watcher.stability`); stable
files are read, classified together, recorded and disposed of in batches
(`watcher.processing`). A periodic rescan, and a rescan after any observer
overflow or failure, catch whatever events missed. Setting the stop event
(SIGTERM, SIGINT, or a test) ends the loop after the batch in hand.
"""

from __future__ import annotations

import logging
import stat as stat_module
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from watcher import observing
from watcher.classifier import Classifier
from watcher.disposal import Disposer
from watcher.errors import ServiceError
from watcher.inbox import check_layout, link_escapes, relative_name, scan, why_ignored
from watcher.logs import decision
from watcher.parallel import PreparePool, available_cores
from watcher.processing import Counts, Job, Processor
from watcher.results import read_ledger
from watcher.results_file import ResultsFile, check_results_header
from watcher.settings import WatchSettings
from watcher.protocol import HintKind
from watcher.stability import StabilityTracker
from watcher.wakeup import Doorbell, HintQueue, StopRequest, stop_on_signals

__all__ = ["ServiceError", "run"]

log = logging.getLogger(__name__)

BATCH_LIMIT = 256  # files per micro-batch: one model call, and a short wait when asked to stop
TICK = 0.05  # seconds the loop waits for a hint or a stop before looking at stability again
HEALTH_INTERVAL = 5.0  # seconds between checks that the observer is still alive
IGNORED_MEMORY = 10_000  # names whose "ignored" decision is not logged again
WORKERS_IDLE = 30.0  # seconds without a large batch after which the decode workers stop (memory)


def run(settings: WatchSettings, *, stop: threading.Event | None = None,
        classifier: Classifier | None = None) -> Counts:
    """Run the watch service until `stop` is set, SIGTERM/SIGINT arrives, or (--once) the backlog is done."""
    check_layout(settings)
    check_results_header(settings.results)
    doorbell = Doorbell()
    request = StopRequest(stop, doorbell)
    try:
        with stop_on_signals(request), _decode_workers() as pool:
            classifier = classifier or Classifier(settings.model)  # before anything is read or written
            if request.is_set():
                return Counts()
            # Opening repairs a partial last line; only then is the ledger read back.
            with ResultsFile(settings.results, neutralise_formulas=settings.neutralise_formulas) as sink:
                service = Service(settings, stop=request, classifier=classifier, sink=sink,
                                  ledger=read_ledger(settings.results), pool=pool, doorbell=doorbell)
                service.run()
                return service.processor.counts
    finally:
        doorbell.close()


@contextmanager
def _decode_workers() -> Iterator[PreparePool | None]:
    """One decode worker per core for large batches (started at the first one); none on one core."""
    if available_cores() < 2:
        yield None
        return
    with PreparePool(available_cores()) as pool:
        yield pool


class Service:
    """The worker loop and the state it owns: hints, tracker, observer, schedules."""

    def __init__(self, settings: WatchSettings, *, stop: StopRequest, classifier: Classifier,
                 sink: ResultsFile, ledger: dict[str, set[str]], pool: PreparePool | None = None,
                 doorbell: Doorbell) -> None:
        self.settings = settings
        self.stop = stop
        self.inbox = settings.inbox.resolve()
        self.doorbell = doorbell
        self.hints = HintQueue(doorbell)
        closes = not settings.once and observing.closes_reported(settings.poll_seconds)
        self.tracker = StabilityTracker(settle=settings.settle_seconds, closes_reported=closes)
        self.processor = Processor(classifier=classifier, sink=sink, ledger=ledger, tracker=self.tracker,
                                   disposer=Disposer(settings), settle=settings.settle_seconds, pool=pool)
        self.observation = observing.Observation(self.inbox, self.hints, recursive=settings.recursive,
                                                 poll_seconds=settings.poll_seconds)
        self.ignored: OrderedDict[str, None] = OrderedDict()
        self.busy = False  # the last batch was full, so more files may be ready now
        now = time.monotonic()
        self.next_rescan = now + settings.rescan_interval_seconds
        self.next_health = now + HEALTH_INTERVAL
        self.next_summary = now + settings.summary_interval_seconds

    def run(self) -> None:
        """Start watching, process the backlog, then loop until stopped (or done, with --once)."""
        try:
            if not self.settings.once:
                self.observation.start()  # before the backlog scan, so a file dropped during it is not missed
            self._log_ready()
            self.rescan()
            while not self.stop.is_set() and not (self.settings.once and len(self.tracker) == 0):
                self._step()
        finally:
            self.observation.stop()
            self._summary()

    def _log_ready(self) -> None:
        s = self.settings
        how = "once" if s.once else f"polling every {s.poll_seconds:g} s" if s.poll_seconds else "native events"
        log.info("ready: watching %s (%s%s), results %s, after=%s; scanning the backlog",
                 self.inbox, how, ", recursive" if s.recursive else "", s.results, s.after,
                 extra={"decision": "ready"})

    def _step(self) -> None:
        """One turn of the loop: take hints, rescan or heal when due, process what is stable."""
        self._take_hints(wait=0.0 if self.busy else TICK)
        now = time.monotonic()
        if now >= self.next_health and not self.settings.once:
            self.next_health = now + HEALTH_INTERVAL
            if self.observation.heal():
                self.next_rescan = 0.0
        if now >= self.next_rescan:
            self.rescan()
        ready, vanished = self.tracker.take_ready(time.monotonic(), limit=BATCH_LIMIT)
        for path in vanished:
            name = str(relative_name(self.inbox, path))
            decision(log, logging.INFO, "vanished", name, "%s vanished before it could be read; no row")
        self.busy = len(ready) == BATCH_LIMIT  # more may be ready: do not wait for hints next turn
        if ready:
            jobs = [Job(candidate=c, name=relative_name(self.inbox, c.path)) for c in ready]
            self.processor.process(jobs, self.stop)
        elif self.processor.pool is not None:
            self.processor.pool.stop_if_idle(WORKERS_IDLE)
        if now >= self.next_summary:
            self._summary()
            self.next_summary = now + self.settings.summary_interval_seconds

    def _take_hints(self, *, wait: float) -> None:
        """Wait up to `wait` seconds for a hint or a stop (never longer), then take every hint queued."""
        if wait > 0 and self.hints.qsize() == 0:
            self.doorbell.wait(wait)
        for kind, path in self.hints.drain():
            self._on_hint(kind, path)

    def _on_hint(self, kind: HintKind, path: Path) -> None:
        if kind == HintKind.RESCAN:
            if path == self.inbox:  # events were lost, or the inbox itself vanished: look again now
                self.next_rescan = self.next_health = 0.0
        elif kind == HintKind.FOLDER:
            for found in scan(path, recursive=True):  # a folder moved in: its files brought no events
                self._offer(found, HintKind.SCAN)
        else:
            self._offer(path, kind)

    def _offer(self, path: Path, kind: HintKind) -> None:
        """Nominate an eligible file to the tracker; log why an ineligible one is ignored."""
        name = relative_name(self.inbox, path)
        if name is None or not name.parts or (len(name.parts) > 1 and not self.settings.recursive):
            return  # moved out of the inbox, or in a subfolder we were not asked to watch
        reason = why_ignored(name, patterns=self.settings.patterns, ignore=self.settings.ignore_patterns)
        try:
            stat = path.stat()
        except OSError:
            return  # gone already (a temporary name renamed away): nothing to say
        if reason is None and link_escapes(self.inbox, path):
            reason = "symbolic link leading out of the inbox"
        elif reason is None and not stat_module.S_ISREG(stat.st_mode):
            reason = "not a regular file"
        if reason is not None:
            self._log_ignored(str(name), reason)
        elif not (kind == HintKind.SCAN and self.processor.is_known(str(name), stat)):
            if self.tracker.nominate(path, kind, time.monotonic()):
                self.processor.counts.seen += 1
                decision(log, logging.INFO, "queued", str(name), "queued %s (%s)", kind)

    def _log_ignored(self, name: str, reason: str) -> None:
        """Log each ignored name once (within a bounded memory), not on every event and rescan."""
        if name in self.ignored:
            self.ignored.move_to_end(name)
            return
        self.ignored[name] = None
        if len(self.ignored) > IGNORED_MEMORY:
            self.ignored.popitem(last=False)
        decision(log, logging.INFO, "ignored", name, "ignored %s: %s", reason)

    def rescan(self) -> None:
        """Offer every file in the inbox: the backlog at start, then whatever events missed."""
        present: set[str] = set()
        for count, path in enumerate(scan(self.inbox, recursive=self.settings.recursive)):
            if count % 1000 == 0 and self.stop.is_set():
                return
            present.add(str(relative_name(self.inbox, path)))
            self._offer(path, HintKind.SCAN)
        self.processor.forget_missing(present)
        self.next_rescan = time.monotonic() + self.settings.rescan_interval_seconds

    def _summary(self) -> None:
        c = self.processor.counts
        log.info("summary: seen %d, classified %d, failed %d, skipped %d, queue depth %d",
                 c.seen, c.classified, c.failed, c.skipped, len(self.tracker) + self.hints.qsize(),
                 extra={"decision": "summary"})
