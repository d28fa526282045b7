"""Which files in the inbox are ours to read, and the inbox's layout rules.

A file is eligible when its name matches an image pattern and it is neither
hidden, nor a temporary or lock file that a copy tool, browser or office
suite leaves while it works, nor inside a hidden or system folder. Symbolic
links are followed only to a file inside the inbox.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path, PurePosixPath

from watcher.errors import ServiceError
from watcher.settings import WatchSettings

log = logging.getLogger(__name__)

MAX_SECONDS = 7 * 24 * 3600.0  # a week: any longer duration is a mistake, and would keep --once from ending

# Partial downloads and copies, editor and office lock files, and the litter
# of macOS and Windows file sharing; matched case-insensitively against the name.
TEMPORARY_PATTERNS = (
    "*.part",
    "*.partial",
    "*.tmp",
    "*.temp",
    "*.crdownload",
    "*.download",
    "*.swp",
    "*~",
    "~$*",
    ".~lock*",
    "._*",
    ".ds_store",
    "thumbs.db",
    "desktop.ini",
)
# Folders that file servers and operating systems keep for themselves.
SYSTEM_FOLDERS = frozenset(
    name.lower()
    for name in (
        "$RECYCLE.BIN",
        "System Volume Information",
        "lost+found",
        "@eaDir",
        "#recycle",
        "#snapshot",
        "__MACOSX",
        "RECYCLER",
    )
)


def why_ignored(relative: PurePosixPath, *, patterns: tuple[str, ...], ignore: tuple[str, ...] = ()) -> str | None:
    """Why a path relative to the inbox is not ours to read, or None when it is eligible."""
    if not is_utf8(str(relative)):
        return "its name is not valid UTF-8, so it cannot go into the CSV (rename the file)"
    for folder in relative.parts[:-1]:
        if folder.startswith(".") or folder.lower() in SYSTEM_FOLDERS:
            return f"inside a hidden or system folder ({folder})"
    name = relative.name.lower()
    temporary = TEMPORARY_PATTERNS + ignore
    if _any_of(temporary).match(name):
        pattern = next(p.lower() for p in temporary if fnmatch.fnmatchcase(name, p.lower()))
        return f"temporary, lock or ignored file (matches {pattern})"
    if name.startswith("."):
        return "hidden file"
    if not _any_of(patterns).match(name):
        return "not an image name (see --patterns)"
    return None


@lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression matching a lower-case name that any of the shell patterns matches, case-insensitively.

    A folder of 10,000 files is checked against some thirty patterns: one
    match per name instead of thirty fnmatch calls.
    """
    return re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in patterns) or r"(?!)")


def is_utf8(name: str) -> bool:
    """False for a name whose bytes are not UTF-8 (Python keeps them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def relative_name(inbox: Path, path: Path) -> PurePosixPath | None:
    """The path relative to the inbox with '/' separators, or None when it lies outside."""
    try:
        return PurePosixPath(Path(os.path.abspath(path)).relative_to(inbox).as_posix())
    except ValueError:
        return None


def link_escapes(inbox: Path, path: Path) -> bool:
    """True when the path is, or lies under, a symbolic link that leads out of the inbox."""
    try:
        Path(os.path.realpath(path)).relative_to(inbox)
    except ValueError:
        return True
    return False


def scan(inbox: Path, *, recursive: bool, skipped_folders: list[Path] | None = None) -> Iterator[Path]:
    """Yield every file path under the inbox (top level only unless recursive), sorted.

    Folders reached through symbolic links are never entered; hidden and
    system folders are skipped here already, since nothing inside is ours
    (and listed in `skipped_folders` when one is given).
    """
    for root, folders, files in os.walk(inbox, followlinks=False, onerror=_log_walk_error):
        if skipped_folders is not None and recursive:
            skipped_folders.extend(Path(root) / f for f in folders if _skipped_folder(f))
        folders[:] = sorted(f for f in folders if recursive and not _skipped_folder(f))
        for name in sorted(files):
            yield Path(root) / name


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


def _log_walk_error(error: OSError) -> None:
    log.warning("cannot list %s: %s", error.filename, error.strerror or error)


def check_layout(settings: WatchSettings) -> None:
    """Refuse settings that would lose or recount files; raise ServiceError saying why."""
    inbox = settings.inbox.resolve()
    if not inbox.is_dir():
        raise ServiceError(f"inbox {settings.inbox} is not a folder (create it, or mount the share)")
    outputs = {
        "results file": settings.results,
        "processed folder": settings.processed_folder(),
        "failed folder": settings.failed_folder(),
    }
    for what, path in outputs.items():
        if path is not None and _is_within(path.resolve(), inbox):
            raise ServiceError(f"the {what} {path} lies inside the inbox {inbox}; put it outside")
    if not settings.patterns:
        raise ServiceError("--patterns is empty: no file would ever be read")
    if any(";" in pattern for pattern in settings.patterns + settings.ignore_patterns):
        raise ServiceError("separate --patterns and --ignore with ',' not ';'")
    durations = {
        "--settle": (settings.settle_seconds, 0.0),
        "--rescan-interval": (settings.rescan_interval_seconds, 1e-3),
        "--summary-interval": (settings.summary_interval_seconds, 1e-3),
    }
    if settings.poll_seconds is not None:
        durations["--poll"] = (settings.poll_seconds, 0.1)
    for option, (seconds, least) in durations.items():
        if not (math.isfinite(seconds) and least <= seconds <= MAX_SECONDS):
            raise ServiceError(f"{option} must be a number of seconds from {least:g} to {MAX_SECONDS:g}, not {seconds}")


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
