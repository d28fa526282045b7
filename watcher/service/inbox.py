"""The inbox's layout rules, and names relative to it (which files are ours: `watcher.pipeline.eligibility`)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path, PurePosixPath

from watcher.errors import ServiceError
from watcher.settings import WatchSettings

log = logging.getLogger(__name__)

MAX_SECONDS = 7 * 24 * 3600.0  # a week: any longer duration is a mistake, and would keep --once from ending


def relative_name(inbox: Path, path: Path) -> PurePosixPath | None:
    """The path relative to the inbox with '/' separators, or None when it lies outside."""
    try:
        return PurePosixPath(Path(os.path.abspath(path)).relative_to(inbox).as_posix())
    except ValueError:
        return None


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
