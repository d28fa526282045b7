"""The files `classify` reads: those named, and those in folders named that `watch` would read."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from watcher.ops.logs import decision
from watcher.pipeline.eligibility import SkipKind, is_utf8, scan, why_not_ours
from watcher.protocol import Decision

log = logging.getLogger(__name__)


class InputError(Exception):
    """A path given on the command line does not exist."""


@dataclass
class FoundFiles:
    """Files to classify, as (path, name for the CSV), and what was skipped, counted per kind."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: Counter[SkipKind] = field(default_factory=Counter)


def collect_files(paths: tuple[Path, ...], patterns: tuple[str, ...]) -> FoundFiles:
    """Files named, and the files in folders named that `watch` would read (the same rules), with the rest counted.

    A file named on the command line is read whatever its name. In a folder,
    searched recursively, hidden, temporary and lock files, names that match no
    pattern, hidden and system folders, and links leading out of the folder are
    skipped, and counted by kind. Names found in a folder are relative to it,
    with '/' separators.
    """
    found = FoundFiles()
    for given in paths:
        if given.is_file():
            if not is_utf8(str(given)):
                raise InputError(f"{given!r}: its name is not valid UTF-8, so it cannot go into the CSV; rename it")
            found.files.append((given, str(given)))
        elif given.is_dir():
            found.files.extend(_eligible_files(given, patterns, found.skipped))
        else:
            raise InputError(f"no such file or folder: {given}")
    return found


def _eligible_files(folder: Path, patterns: tuple[str, ...], skipped: Counter[SkipKind]) -> list[tuple[Path, str]]:
    root = folder.resolve()
    prefix = len(str(Path(folder, "x"))) - 1  # scan() joins names onto the folder as given
    hidden_folders: list[Path] = []
    eligible: list[tuple[Path, str]] = []
    for path in scan(folder, recursive=True, skipped_folders=hidden_folders):
        name = PurePosixPath(str(path)[prefix:].replace(os.sep, "/"))
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0  # a link to nothing: not a regular file
        skip = why_not_ours(root, path, name, patterns=patterns, mode=mode)
        if skip is None:
            eligible.append((path, str(name)))
        else:
            skipped[skip.kind] += 1
            decision(log, logging.INFO, Decision.IGNORED, str(name), "ignored %s: %s", skip.why)
    for hidden in hidden_folders:  # not entered: its files are not even listed
        skipped[SkipKind.HIDDEN_FOLDER] += 1
        decision(log, logging.INFO, Decision.IGNORED, hidden.name, "ignored %s/: a hidden or system folder")
    # Sorted on the parts tuples: the order Path sorts in, several times faster for 10,000 files.
    return sorted(eligible, key=lambda pair: pair[0].parts)
