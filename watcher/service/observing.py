"""Turn watchdog events into hints on a queue, and keep the observer alive.

Events are hints, never the truth: the handler only puts (kind, path) on a
queue, and the service decides what a path means. When the kernel drops
events (an inotify queue overflow) or the observer dies (the inbox vanished,
a share went away), the service is told to rescan, so nothing is missed.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver

from watcher.errors import ServiceError
from watcher.protocol import HintKind
from watcher.service.wakeup import HintQueue

log = logging.getLogger(__name__)

# watchdog (7.1 and later) reports a kernel event-queue overflow only as this warning.
OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_WORDS = "queue overflowed"
STOP_WAIT = 1.0  # seconds to wait for the observer's threads when stopping
# All the event types we listen to; listening to no others keeps inotify quiet.
EVENT_TYPES = [
    FileCreatedEvent,
    FileMovedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


class HintHandler(FileSystemEventHandler):
    """Put the path each useful event names on a queue; the worker thread does the rest."""

    def __init__(self, hints: HintQueue) -> None:
        self.hints = hints

    def on_created(self, event: FileSystemEvent) -> None:
        kind = HintKind.FOLDER if event.is_directory else HintKind.CREATED
        self.hints.put(kind, _path(event.src_path))  # a new folder is scanned, or (not recursive) reported once

    def on_moved(self, event: FileSystemEvent) -> None:
        # Only the destination matters; an empty one means the file was moved out.
        kind = HintKind.FOLDER if event.is_directory else HintKind.MOVED
        if event.dest_path:
            self.hints.put(kind, _path(event.dest_path))

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.hints.put(HintKind.MODIFIED, _path(event.src_path))

    def on_closed(self, event: FileSystemEvent) -> None:
        self.hints.put(HintKind.CLOSED, _path(event.src_path))

    def on_deleted(self, event: FileSystemEvent) -> None:
        if event.is_directory:  # perhaps the inbox itself: let the health check look
            self.hints.put(HintKind.RESCAN, _path(event.src_path))


def _path(raw: bytes | str) -> Path:
    return Path(os.fsdecode(raw))


class OverflowAlarm(logging.Handler):
    """Turn watchdog's report of a kernel event-queue overflow into a rescan of the whole inbox."""

    def __init__(self, hints: HintQueue, inbox: Path) -> None:
        super().__init__(level=logging.WARNING)
        self.hints = hints
        self.inbox = inbox

    def emit(self, record: logging.LogRecord) -> None:
        if OVERFLOW_WORDS in record.getMessage().lower():
            self.hints.put(HintKind.RESCAN, self.inbox)

    def attach(self) -> None:
        """Listen to watchdog's inotify logger, at WARNING even when our log level hides warnings."""
        logger = logging.getLogger(OVERFLOW_LOGGER)
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
        logger.addHandler(self)

    def detach(self) -> None:
        """Stop listening."""
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self)


def closes_reported(poll_seconds: float | None) -> bool:
    """True when the observer will report writers closing files (inotify on Linux)."""
    return poll_seconds is None and sys.platform.startswith("linux")


def start_observer(inbox: Path, hints: HintQueue, *, recursive: bool, poll_seconds: float | None) -> BaseObserver:
    """Start a native observer, or a polling one for shares where native events never arrive."""
    if poll_seconds is not None:
        from watchdog.observers.polling import PollingObserver

        observer: BaseObserver = PollingObserver(timeout=poll_seconds)
    elif sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        # Full events report a file moved in from outside the inbox as a move, not
        # as a creation, so it is not held back waiting for a close that never comes.
        observer = InotifyObserver(generate_full_events=True)
    else:
        from watchdog.observers import Observer

        observer = Observer()
    observer.schedule(HintHandler(hints), str(inbox), recursive=recursive, event_filter=EVENT_TYPES)
    observer.start()
    return observer


def is_healthy(observer: BaseObserver) -> bool:
    """True while the observer thread and every emitter it started are alive."""
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


def stop_observer(observer: BaseObserver | None) -> None:
    """Stop the observer and wait for its threads."""
    if observer is None:
        return
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=STOP_WAIT)
    except Exception:  # a dead observer may fail to stop; it is gone either way
        log.debug("stopping the observer failed", exc_info=True)


class Observation:
    """The observer and its upkeep: started before the backlog scan, restarted whenever it dies."""

    def __init__(self, inbox: Path, hints: HintQueue, *, recursive: bool, poll_seconds: float | None) -> None:
        self.inbox = inbox
        self.hints = hints
        self.recursive = recursive
        self.poll_seconds = poll_seconds
        self.observer: BaseObserver | None = None
        self.alarm = OverflowAlarm(hints, inbox)
        self.inbox_missing = False

    def start(self) -> None:
        """Start watching; raise ServiceError when the inbox cannot be watched at all."""
        self.alarm.attach()
        try:
            self.observer = start_observer(
                self.inbox, self.hints, recursive=self.recursive, poll_seconds=self.poll_seconds
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot watch {self.inbox}: {exc.strerror or exc} (on Linux, raise "
                "fs.inotify.max_user_watches, or use --poll)"
            ) from exc

    def heal(self) -> bool:
        """Restart a dead observer (inbox deleted and back, share remounted); True when a rescan is due."""
        if self.observer is not None and is_healthy(self.observer):
            return False
        stop_observer(self.observer)
        self.observer = None
        if not self.inbox.is_dir():
            if not self.inbox_missing:
                log.error("the inbox %s is gone; waiting for it to come back", self.inbox)
            self.inbox_missing = True
            return False
        log.warning("the file-system observer stopped; restarting it and rescanning")
        self.inbox_missing = False
        try:
            self.start()
        except ServiceError as exc:
            log.error("%s; relying on rescans until it works", exc)
        return True

    def stop(self) -> None:
        """Stop the observer and stop listening for overflow reports."""
        stop_observer(self.observer)
        self.observer = None
        self.alarm.detach()
