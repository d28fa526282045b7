"""Which files are ours to read: the one set of rules `watch`, `classify` and Spark apply to names and paths.

A file is eligible when its name matches an image pattern and it is neither
hidden, nor a temporary or lock file that a copy tool, browser or office
suite leaves while it works, nor inside a hidden or system folder. Symbolic
links are followed only to a file inside the folder read.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat as stat_module
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


class SkipKind(StrEnum):
    """Why a file is not read, in a word: what `classify` counts and prints per kind."""

    NOT_UTF8 = "name not valid UTF-8"
    IN_HIDDEN_FOLDER = "inside a hidden or system folder"
    HIDDEN_FOLDER = "hidden or system folder"  # a folder not entered at all
    TEMPORARY = "temporary, lock or ignored file"
    HIDDEN_FILE = "hidden file"
    NOT_IMAGE_NAME = "not an image name"
    ESCAPING_LINK = "symbolic link leading out of the folder"
    NOT_REGULAR = "not a regular file"


@dataclass(frozen=True)
class Skip:
    """A file that is not ours to read: the kind, and the sentence the log gives."""

    kind: SkipKind
    why: str

    def __str__(self) -> str:
        return self.why


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


def why_ignored(relative: PurePosixPath, *, patterns: tuple[str, ...], ignore: tuple[str, ...] = ()) -> Skip | None:
    """Why a name (relative to the folder read) is not ours to read, or None when its name is eligible."""
    if not is_utf8(str(relative)):
        return Skip(SkipKind.NOT_UTF8, "its name is not valid UTF-8, so it cannot go into the CSV (rename the file)")
    for folder in relative.parts[:-1]:
        if folder.startswith(".") or folder.lower() in SYSTEM_FOLDERS:
            return Skip(SkipKind.IN_HIDDEN_FOLDER, f"inside a hidden or system folder ({folder})")
    name = relative.name.lower()
    temporary = TEMPORARY_PATTERNS + ignore
    if _any_of(temporary).match(name):
        pattern = next(p.lower() for p in temporary if fnmatch.fnmatchcase(name, p.lower()))
        return Skip(SkipKind.TEMPORARY, f"temporary, lock or ignored file (matches {pattern})")
    if name.startswith("."):
        return Skip(SkipKind.HIDDEN_FILE, "hidden file")
    if not _any_of(patterns).match(name):
        return Skip(SkipKind.NOT_IMAGE_NAME, "not an image name (see --patterns)")
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


def link_escapes(folder: Path, path: Path) -> bool:
    """True when the path is, or lies under, a symbolic link that leads out of the folder."""
    try:
        Path(os.path.realpath(path)).relative_to(folder)
    except ValueError:
        return True
    return False


def why_not_ours(
    folder: Path,
    path: Path,
    relative: PurePosixPath,
    *,
    patterns: tuple[str, ...],
    ignore: tuple[str, ...] = (),
    mode: int,
    folder_word: str = "folder",
) -> Skip | None:
    """Why a file found in a folder is not ours to read (its name, a link leading out of the folder, not a
    regular file), or None when it is. `mode` is the file's st_mode (links followed); `folder_word` names
    the folder in the log ("inbox" for the service)."""
    skip = why_ignored(relative, patterns=patterns, ignore=ignore)
    if skip is None and link_escapes(folder, path):
        skip = Skip(SkipKind.ESCAPING_LINK, f"symbolic link leading out of the {folder_word}")
    elif skip is None and not stat_module.S_ISREG(mode):
        skip = Skip(SkipKind.NOT_REGULAR, "not a regular file")
    return skip


def _skipped_folder(name: str) -> bool:
    """A hidden or system folder: nothing inside is ours, so it is not even entered."""
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


def scan(folder: Path, *, recursive: bool, skipped_folders: list[Path] | None = None) -> Iterator[Path]:
    """Yield every file path under the folder (top level only unless recursive), sorted.

    Folders reached through symbolic links are never entered; hidden and
    system folders are skipped here already, since nothing inside is ours
    (and listed in `skipped_folders` when one is given).
    """
    for root, folders, files in os.walk(folder, followlinks=False, onerror=_log_walk_error):
        if skipped_folders is not None and recursive:
            skipped_folders.extend(Path(root) / f for f in folders if _skipped_folder(f))
        folders[:] = sorted(f for f in folders if recursive and not _skipped_folder(f))
        for name in sorted(files):
            yield Path(root) / name


def _log_walk_error(error: OSError) -> None:
    log.warning("cannot list %s: %s", error.filename, error.strerror or error)
