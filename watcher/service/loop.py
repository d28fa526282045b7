"""The watch service: backlog first, then events as hints, stable files in micro-batches, until stopped.

One worker thread (the caller's) owns all state. The watchdog observer only
puts hints on a queue (`watcher.service.observing`); a stability tracker holds each
nominated file until it is closed and quiet (`watcher.service.stability`); stable
files are read, classified together, recorded and disposed of in batches
(`watcher.service.processing`). A periodic rescan, and a rescan after any observer
overflow or failure, catch whatever events missed. Setting the stop event
(SIGTERM, SIGINT, or a test) ends the loop after the batch in hand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from watcher.cores import available_cores
from watcher.errors import ServiceError
from watcher.model.classifier import Classifier, ModelError
from watcher.ops.logs import decision
from watcher.ops.telemetry import Telemetry
from watcher.pipeline.eligibility import scan, why_not_ours
from watcher.protocol import Decision, ErrorKind, HintKind, Status
from watcher.reading.pool import PreparePool
from watcher.results.csv_file import CsvStore, check_results_header
from watcher.results.store import Ledger, ResultsError, ResultStore
from watcher.service import observing
from watcher.service.disposal import Disposer
from watcher.service.inbox import check_layout, relative_name
from watcher.service.processing import BatchOutcome, Job, Processor
from watcher.service.stability import StabilityTracker
from watcher.service.wakeup import Doorbell, HintQueue, ReloadRequest, StopRequest, stop_on_signals
from watcher.settings import WatchSettings

__all__ = ["ServiceError", "run"]

log = logging.getLogger(__name__)

BATCH_LIMIT = 256  # files per micro-batch: one model call, and a short wait when asked to stop
TICK = 0.05  # seconds the loop waits for a hint or a stop before looking at stability again
HEALTH_INTERVAL = 5.0  # seconds between checks that the observer is still alive
IGNORED_MEMORY = 10_000  # names whose "ignored" decision is not logged again
WORKERS_IDLE = 30.0  # seconds without a large batch after which the decode workers stop (memory)


@dataclass
class Counts:
    """What the service has done since it started (for the summary, the status file and --once's exit code)."""

    seen: int = 0
    classified: int = 0
    failed: int = 0
    skipped: int = 0
    dispose_failed: int = 0  # rows written, but the file could not be moved or deleted as asked


def run(
    settings: WatchSettings, *, stop: threading.Event | None = None, classifier: Classifier | None = None
) -> Counts:
    """Run the watch service until `stop` is set, SIGTERM/SIGINT arrives, or (--once) the backlog is done."""
    check_layout(settings)
    check_results_header(settings.results)
    doorbell = Doorbell()
    request = StopRequest(stop, doorbell)
    reload = ReloadRequest()
    telemetry = Telemetry(
        inbox=settings.inbox.resolve(),
        results=settings.results,
        metrics_port=settings.metrics_port,
        metrics_address=settings.metrics_address,
    )
    try:
        telemetry.start()  # a metrics port that cannot be served fails now, before the model loads
        with stop_on_signals(request, reload), _decode_workers(settings) as pool:
            classifier = classifier or Classifier(settings.model)  # before anything is read or written
            if request.is_set():
                return Counts()
            # Opening repairs a torn last row; only then is the ledger read back.
            with CsvStore(settings.results, neutralise_formulas=settings.neutralise_formulas) as sink:
                service = Service(
                    settings,
                    stop=request,
                    classifier=classifier,
                    sink=sink,
                    ledger=sink.ledger(),
                    pool=pool,
                    doorbell=doorbell,
                    telemetry=telemetry,
                    reload=reload,
                )
                service.run()
                return service.counts
    finally:
        telemetry.close()
        doorbell.close()


@contextmanager
def _decode_workers(settings: WatchSettings) -> Iterator[PreparePool]:
    """One decode worker per core (started at the first batch that needs them): they read large
    batches, and every document, under the time limit (one worker on one core)."""
    with PreparePool(available_cores(), max_pages=settings.max_pages, read_timeout=settings.read_timeout) as pool:
        yield pool


class Service:
    """The worker loop and the state it owns: hints, tracker, counts, decode workers, observer, schedules."""

    def __init__(
        self,
        settings: WatchSettings,
        *,
        stop: StopRequest,
        classifier: Classifier,
        sink: ResultStore,
        ledger: Ledger,
        doorbell: Doorbell,
        pool: PreparePool | None = None,
        telemetry: Telemetry,
        reload: ReloadRequest | None = None,
    ) -> None:
        self.settings = settings
        self.reload = reload or ReloadRequest()
        self.stop = stop
        self.inbox = settings.inbox.resolve()
        self.doorbell = doorbell
        self.hints = HintQueue(doorbell)
        self.pool = pool  # decode workers for large batches; None: every file is read in this thread
        self.telemetry = telemetry
        self.counts = Counts()
        closes = not settings.once and observing.closes_reported(settings.poll_seconds)
        self.tracker = StabilityTracker(settle=settings.settle_seconds, closes_reported=closes)
        self.processor = Processor(
            classifier=classifier,
            sink=sink,
            ledger=ledger,
            disposer=Disposer(settings),
            settle=settings.settle_seconds,
            max_pages=settings.max_pages,
        )
        self.observation = observing.Observation(
            self.inbox, self.hints, recursive=settings.recursive, poll_seconds=settings.poll_seconds
        )
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
            self.telemetry.ready()
            self.rescan()
            while not self.stop.is_set() and not (self.settings.once and len(self.tracker) == 0):
                self._step()
        finally:
            self.telemetry.stopping()
            self.observation.stop()
            self._summary()

    def _log_ready(self) -> None:
        s = self.settings
        how = "once" if s.once else f"polling every {s.poll_seconds:g} s" if s.poll_seconds else "native events"
        log.info(
            "ready: watching %s (%s%s), results %s, after=%s; scanning the backlog",
            self.inbox,
            how,
            ", recursive" if s.recursive else "",
            s.results,
            s.after,
            extra={"decision": Decision.READY},
        )

    def _step(self) -> None:
        """One turn of the loop: take hints, reload the model when asked, rescan or heal when due, process
        what is stable."""
        self._take_hints(wait=0.0 if self.busy else TICK)
        if self.reload.take():
            self._reload_model()
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
            decision(log, logging.INFO, Decision.VANISHED, name, "%s vanished before it could be read; no row")
        self.busy = len(ready) == BATCH_LIMIT  # more may be ready: do not wait for hints next turn
        if ready and not self.stop.is_set():  # taken but not read: found again at the next start
            self._process([Job(candidate=c, name=self._name_of(c.path)) for c in ready])
        elif self.pool is not None:
            self.pool.stop_if_idle(WORKERS_IDLE)
        self.telemetry.tick(queue_depth=self._queue_depth(), counts=asdict(self.counts))
        if now >= self.next_summary:
            self._summary()
            self.next_summary = now + self.settings.summary_interval_seconds

    def _reload_model(self) -> None:
        """Load the model file again (SIGHUP), between batches: each file is read by one model whole.

        A model that cannot be loaded is logged and the loaded one kept, so a
        half-copied model file never stops the service.
        """
        try:
            classifier = Classifier(self.settings.model)
        except ModelError as exc:
            log.error("SIGHUP: the model could not be loaded again (%s); going on with the one loaded", exc,
                      extra={"decision": Decision.RELOAD_FAILED})  # fmt: skip
            return
        self.processor.classifier = classifier
        log.info("SIGHUP: model loaded again from %s (%s)", classifier.model_path, classifier.backend.name,
                 extra={"decision": Decision.RELOADED})  # fmt: skip

    def _name_of(self, path: Path) -> PurePosixPath:
        name = relative_name(self.inbox, path)
        if name is None:  # the tracker only holds paths offered from inside the inbox
            raise AssertionError(f"{path} is outside the inbox {self.inbox}")
        return name

    def _process(self, jobs: list[Job]) -> None:
        """Process one batch and account for it; a results write error stops the service (after a log)."""
        started = time.monotonic()
        try:
            outcome = self.processor.process(jobs, self.stop, self.pool)
        except ResultsError:
            self.telemetry.error(ErrorKind.RESULTS)
            raise
        self._account(outcome)
        self.telemetry.rows(outcome.statuses, batch_seconds=time.monotonic() - started)

    def _account(self, outcome: BatchOutcome) -> None:
        """Counts, retries and error metrics from one batch."""
        failed = sum(1 for status in outcome.statuses if status == Status.ERROR)
        self.counts.failed += failed
        self.counts.classified += len(outcome.statuses) - failed
        self.counts.skipped += outcome.skipped
        self.counts.dispose_failed += outcome.dispose_failed
        for _ in range(outcome.dispose_failed):
            self.telemetry.error(ErrorKind.DISPOSE)
        now = time.monotonic()
        for candidate in outcome.retries:
            self.tracker.retry_later(candidate, now)

    def _queue_depth(self) -> int:
        return len(self.tracker) + self.hints.qsize()

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
            if not self.settings.recursive:
                self._ignore_subfolder(path)
                return
            for found in scan(path, recursive=True):  # a folder moved in: its files brought no events
                self._offer(found, HintKind.SCAN)
        else:
            self._offer(path, kind)

    def _offer(self, path: Path, kind: HintKind) -> None:
        """Nominate an eligible file to the tracker; log why an ineligible one is ignored."""
        name = relative_name(self.inbox, path)
        if name is None or not name.parts or (len(name.parts) > 1 and not self.settings.recursive):
            return  # moved out of the inbox, or in a subfolder we were not asked to watch
        try:
            stat = path.stat()
        except OSError:
            return  # gone already (a temporary name renamed away): nothing to say
        skip = why_not_ours(
            self.inbox,
            path,
            name,
            patterns=self.settings.patterns,
            ignore=self.settings.ignore_patterns,
            mode=stat.st_mode,
            folder_word="inbox",
        )
        if skip is not None:
            self._log_ignored(str(name), skip.why)
            return
        if self.processor.is_known(str(name), stat):
            # Recorded and kept, unchanged since: a rescan finds it again, and a late event of the write
            # that made it arrives after its row. Reading it again would cost as much as the first time
            # (up to --read-timeout for a hostile document) only to skip it.
            return
        if self.tracker.nominate(path, kind, time.monotonic()):
            self.counts.seen += 1
            decision(log, logging.INFO, Decision.QUEUED, str(name), "queued %s (%s)", kind)

    def _ignore_subfolder(self, path: Path) -> None:
        name = relative_name(self.inbox, path)
        if name is not None and len(name.parts) == 1 and not name.name.startswith("."):
            self._log_ignored(f"{name}/", "a subfolder: files in subfolders are read only with --recursive")

    def _log_ignored(self, name: str, reason: str) -> None:
        """Log each ignored name once (within a bounded memory), not on every event and rescan."""
        if name in self.ignored:
            self.ignored.move_to_end(name)
            return
        self.ignored[name] = None
        if len(self.ignored) > IGNORED_MEMORY:
            self.ignored.popitem(last=False)
        decision(log, logging.INFO, Decision.IGNORED, name, "ignored %s: %s", reason)

    def rescan(self) -> None:
        """Offer every file in the inbox: the backlog at start, then whatever events missed."""
        present: set[str] = set()
        for count, path in enumerate(scan(self.inbox, recursive=self.settings.recursive)):
            if count % 1000 == 0:
                if self.stop.is_set():
                    return
                self.telemetry.tick(queue_depth=self._queue_depth(), counts=asdict(self.counts))  # a long scan
            present.add(str(relative_name(self.inbox, path)))
            self._offer(path, HintKind.SCAN)
        if not self.settings.recursive:
            for folder in _subfolders(self.inbox):
                self._ignore_subfolder(folder)
        self.processor.forget_missing(present)
        self.next_rescan = time.monotonic() + self.settings.rescan_interval_seconds

    def _summary(self) -> None:
        c = self.counts
        log.info(
            "summary: seen %d, classified %d, failed %d, skipped %d, queue depth %d",
            c.seen,
            c.classified,
            c.failed,
            c.skipped,
            self._queue_depth(),
            extra={"decision": Decision.SUMMARY},
        )


def _subfolders(folder: Path) -> list[Path]:
    """The folders directly inside `folder` (not followed through links); none when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return [Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
