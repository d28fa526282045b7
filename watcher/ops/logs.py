"""Service logs on stderr: plain lines for people, or JSON lines for log collectors.

Decision records carry `decision` (one of `watcher.protocol.Decision`) and
`file` as extra fields, so a JSON consumer can filter on them without
parsing text.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from watcher.clock import utc_at
from watcher.protocol import Decision, LogFormat, LogLevel

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXTRA_FIELDS = ("decision", "file", "page", "reason")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message and decision fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_at(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record arrives (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(level: LogLevel = LogLevel.INFO, log_format: LogFormat = LogFormat.PLAIN) -> None:
    """Send every log record to stderr, as plain text or JSON lines (stdout stays for CSV); every command uses it."""
    handler = StderrHandler()
    handler.setFormatter(JsonLinesFormatter() if log_format == LogFormat.JSON else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # TensorFlow and absl are chatty at INFO; the service's own decisions are what matter.
    for noisy in ("tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def decision(
    logger: logging.Logger, level: int, what: Decision, name: str, message: str, *args: object, page: int | None = None
) -> None:
    """Log one decision about one file (or one page of it); `message` starts with %s for the name
    (control characters escaped), which reads "NAME page N" for a page."""
    shown = printable(name) if page is None else f"{printable(name)} page {page}"
    extra: dict[str, object] = {"decision": what, "file": name}
    if page is not None:
        extra["page"] = page
    logger.log(level, message, shown, *args, extra=extra)


def printable(name: str) -> str:
    """A file name safe for a one-line log: newlines, tabs and other control characters escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in name)
