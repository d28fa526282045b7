"""The one way digitwatch writes a moment: ISO 8601 in UTC, to the millisecond, ending in `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond (`2026-12-03T16:17:15.123Z`)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
