"""The one way digitwatch writes a moment: ISO 8601 in UTC, to the millisecond, ending in `Z`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond (`2026-12-03T16:17:15.123Z`)."""
    return utc_at(time.time())


def utc_at(seconds: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the millisecond, ending in `Z`."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
