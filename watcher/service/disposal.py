"""What happens to a file once its row is durable: keep it, move it out, or delete it.

Moves never overwrite: a name already taken in the destination gets
" (1)", " (2)", ... before its extension. On one file system a move is a
hard link then an unlink, so the file is never missing from both places;
across file systems it is an exclusive-create copy, fsync, then unlink.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from watcher.ops.logs import decision
from watcher.protocol import After, Decision
from watcher.settings import WatchSettings

log = logging.getLogger(__name__)

MAX_SUFFIX = 10_000  # " (n)" suffixes tried before giving up on a name
NO_LINK = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


class Disposer:
    """Applies --after to a file whose row is already durable."""

    def __init__(self, settings: WatchSettings) -> None:
        self.after = settings.after
        self.processed = settings.processed_folder()
        self.failed = settings.failed_folder()

    def dispose(self, path: Path, name: PurePosixPath, *, failed: bool) -> bool:
        """Keep, move or delete the file; return False (and log why) when that failed."""
        folder = self.failed if failed else self.processed
        try:
            if folder is not None:
                target = move_without_overwriting(path, folder / name)
                decision(log, logging.INFO, Decision.MOVED, str(name), "moved %s to %s", target)
            elif self.after == After.DELETE:
                path.unlink()
                decision(log, logging.INFO, Decision.DELETED, str(name), "deleted %s")
        except FileNotFoundError:
            decision(log, logging.INFO, Decision.VANISHED, str(name), "%s vanished before it could be %sd", self.after)
        except OSError as exc:
            decision(
                log,
                logging.ERROR,
                Decision.DISPOSE_FAILED,
                str(name),
                "%s: cannot %s it (%s); trying again on the next rescan",
                self.after,
                exc.strerror or exc,
            )
            return False
        return True


def move_without_overwriting(source: Path, target: Path) -> Path:
    """Move source to target, or to "target (n)" when that name is taken; return where it went."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for candidate in _candidates(target):
        try:
            os.link(source, candidate, follow_symlinks=False)  # fails rather than overwrite
        except FileExistsError:
            if _same_file(source, candidate):  # a crash between link and unlink left both names
                source.unlink()
                return candidate
            continue
        except OSError as exc:
            if exc.errno not in NO_LINK:
                raise
            if not _copy_exclusive(source, candidate):
                continue
        source.unlink()
        return candidate
    raise OSError(errno.EEXIST, f"no free name for {target.name} after {MAX_SUFFIX} tries")


def _candidates(target: Path) -> Iterator[Path]:
    """target, then "stem (1).ext", "stem (2).ext", ..."""
    yield target
    for number in range(1, MAX_SUFFIX):
        yield target.with_name(f"{target.stem} ({number}){target.suffix}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _copy_exclusive(source: Path, target: Path) -> bool:
    """Copy to a name that must not exist yet, durably; False when the name is taken."""
    try:
        destination = open(target, "xb")
    except FileExistsError:
        return False
    try:
        with destination, open(source, "rb") as origin:
            shutil.copyfileobj(origin, destination)
            destination.flush()
            os.fsync(destination.fileno())
        shutil.copystat(source, target)
    except BaseException:
        target.unlink(missing_ok=True)  # never leave half a copy behind
        raise
    return True
