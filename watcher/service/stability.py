"""Decide when a file is safe to read: complete, or closed by its writer and quiet for a settle time.

Events and scans only nominate files. A nominated file is handed out once
no event has arrived for it for `settle` seconds and its size and times are
unchanged: either we have watched them stay the same for `settle` seconds,
or the file's own change time is already that old (a backlog file). Where
native events report closes (inotify), a file being written in place is also
held until its writer closes it, or until OPEN_GRACE passes in case that
close event was lost. A file its writer has just closed, or one renamed or
moved into the inbox, is complete and read at once: rsync, browsers and most
copy tools write `x.png.part` and rename it when it is whole.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from watcher.protocol import HintKind

log = logging.getLogger(__name__)

OPEN_GRACE = 10.0  # seconds: a file quiet this long counts as closed even without a close event
RETRY_DELAY = 1.0  # seconds between attempts on a file that failed to decode while it may be growing

Signature = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


@dataclass
class Candidate:
    """A file nominated for reading, and what we know of its recent history."""

    path: Path
    last_event: float = float("-inf")  # monotonic seconds; -inf: seen by a scan only
    signature: Signature | None = None
    unchanged_since: float = 0.0  # monotonic seconds since the signature was last seen to change
    open_for_write: bool = False  # written to, and no close event yet
    not_before: float = 0.0  # monotonic seconds: retried files wait until then
    attempts: int = 0  # reads that failed to decode while the file may have been growing
    complete: bool = False  # the last event was a close or a move into place: no settle wait needed
    stat: os.stat_result | None = field(default=None, repr=False)


def signature_of(stat: os.stat_result) -> Signature:
    """What must stay the same for a file to count as unchanged."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class StabilityTracker:
    """Nominated files, handed out in batches once each is closed and quiet."""

    def __init__(self, *, settle: float, closes_reported: bool) -> None:
        self.settle = settle
        self.closes_reported = closes_reported  # only inotify reports closes; polling never does
        self._candidates: dict[Path, Candidate] = {}

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, path: Path) -> bool:
        return path in self._candidates

    def nominate(self, path: Path, kind: HintKind, now: float) -> bool:
        """Note an event about a file, or a scan's sighting of it; True if the file is new here."""
        candidate = self._candidates.get(path)
        is_new = candidate is None
        if candidate is None:
            candidate = self._candidates[path] = Candidate(path=path, unchanged_since=now)
        if kind == HintKind.SCAN:
            return is_new  # a sighting is not activity: it must not delay a quiet file
        candidate.last_event = now
        # Only a write marks a file open: a creation alone may be a hard link, or an event
        # watchdog made up for a file already in a new folder, and no close would follow.
        if kind == HintKind.MODIFIED:
            candidate.open_for_write = self.closes_reported
        elif kind in (HintKind.CREATED, HintKind.CLOSED, HintKind.MOVED):
            candidate.open_for_write = False
        candidate.complete = kind in (HintKind.CLOSED, HintKind.MOVED)
        return is_new

    def retry_later(self, candidate: Candidate, now: float) -> None:
        """Put back a file that failed to decode while it may still be growing."""
        candidate.attempts += 1
        candidate.not_before = now + RETRY_DELAY
        candidate.unchanged_since = now
        self._candidates[candidate.path] = candidate

    def take_ready(self, now: float, *, limit: int) -> tuple[list[Candidate], list[Path]]:
        """Remove and return up to `limit` files ready to read, and the paths that vanished."""
        ready: list[Candidate] = []
        vanished: list[Path] = []
        for path, candidate in list(self._candidates.items()):
            if len(ready) >= limit:
                break
            if now < candidate.not_before or now - candidate.last_event < self._settle_for(candidate):
                continue
            try:
                stat = os.stat(path)
            except OSError:
                vanished.append(path)
                del self._candidates[path]
                continue
            if self._is_quiet(candidate, stat, now):
                candidate.stat = stat
                ready.append(self._candidates.pop(path))
        return ready, vanished

    def _settle_for(self, candidate: Candidate) -> float:
        """No wait for a file just closed by its writer or moved into place; `settle` for any other."""
        return 0.0 if candidate.complete and not candidate.attempts else self.settle

    def _is_quiet(self, candidate: Candidate, stat: os.stat_result, now: float) -> bool:
        """Unchanged for `settle` seconds, and closed by its writer (or quiet for OPEN_GRACE)."""
        signature = signature_of(stat)
        if signature != candidate.signature:
            candidate.signature, candidate.unchanged_since = signature, now
            # A backlog file whose own change time is old enough is quiet already.
            age = time.time() - max(stat.st_mtime, stat.st_ctime)
            if age < self._settle_for(candidate) or candidate.attempts:
                return False
        elif now - candidate.unchanged_since < self._settle_for(candidate):
            return False
        return not candidate.open_for_write or now - candidate.last_event >= OPEN_GRACE
