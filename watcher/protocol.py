"""The words the parts of digitwatch pass to each other, each defined once.

They are `StrEnum`s, so each member is also its plain string: it goes into
the CSV, the logs and the JSON status file as written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """A results row's `status` column."""

    OK = "ok"  # a digit, read with confidence at or above the model's threshold
    UNCERTAIN = "uncertain"  # a digit, but below the threshold: a person should check it
    NO_DIGIT = "no_digit"  # the image holds no ink, or nothing the model takes for a digit
    ERROR = "error"  # the file could not be read or classified; `detail` says why

    @classmethod
    def parse(cls, text: str) -> Status:
        """The status a cell holds; one this version does not know reads as `error`, so people look at it."""
        try:
            return cls(text)
        except ValueError:
            return cls.ERROR


@dataclass(frozen=True)
class Prediction:
    """What the model made of one image (one page): the part of a results row that comes from the model.

    Defined here, below both the model and the results store, so storing rows
    does not depend on the model.
    """

    status: Status
    digit: int | None = None
    confidence: float | None = None
    detail: str = ""


class Source(StrEnum):
    """Who gave a final table's answer: the `source` column of `digitwatch export`."""

    MODEL = "model"  # the results row as the model wrote it
    PERSON = "person"  # the last correction a person (or a script) made to it


class Table(StrEnum):
    """What `digitwatch export` writes."""

    FINAL = "final"  # the results' columns, then final_digit and source
    RESULTS = "results"  # exactly the results CSV's columns (from a Spark output)


NOT_A_DIGIT = "not_a_digit"  # a correction's label for a file a person says holds no digit


class HintKind(StrEnum):
    """What an observer event or a scan says about a path in the inbox."""

    CREATED = "created"
    MODIFIED = "modified"
    CLOSED = "closed"  # its writer closed it (inotify only)
    MOVED = "moved"  # moved or renamed into the inbox
    SCAN = "scan"  # seen by a scan of the inbox, not by an event
    FOLDER = "folder"  # a folder appeared: scan it, its files bring no events
    RESCAN = "rescan"  # events may have been lost: scan the whole inbox now


class After(StrEnum):
    """What happens to a file once its row is durable."""

    KEEP = "keep"
    MOVE = "move"
    DELETE = "delete"


class Engine(StrEnum):
    """Where `digitwatch classify` runs."""

    LOCAL = "local"  # this machine's cores
    SPARK = "spark"  # Apache Spark: a cluster, or local[N]


class LogFormat(StrEnum):
    """How log records are written on standard error."""

    PLAIN = "plain"
    JSON = "json"


class LogLevel(StrEnum):
    """The least important log level shown."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ServiceState(StrEnum):
    """What the service says it is doing, in its status file."""

    RUNNING = "running"
    STOPPED = "stopped"  # it exited cleanly; a crash leaves "running" with a pid that is gone


class BackendChoice(StrEnum):
    """Which runtime runs a model: asked for when loading one, and named by the one loaded."""

    AUTO = "auto"  # asked for only: LiteRT when a .tflite exported from the model is beside it, else Keras
    KERAS = "keras"  # Keras on TensorFlow: any model a user brings
    LITERT = "litert"  # the LiteRT interpreter: no TensorFlow import


class ErrorKind(StrEnum):
    """What went wrong, for the `digitwatch_errors_total{kind}` metric."""

    READ = "read"  # a file got a row with status error
    DISPOSE = "dispose"  # a file could not be moved or deleted after its row was written
    RESULTS = "results"  # the results CSV could not be written


class Decision(StrEnum):
    """What the service decided about a file, or did: the `decision` field of a log record (JSON logs)."""

    QUEUED = "queued"  # an eligible file was seen; it is read once stable
    IGNORED = "ignored"  # not ours to read (the message says why)
    CLASSIFIED = "classified"  # a row with a digit, or no_digit, was written
    FAILED = "failed"  # a row with status error was written
    SKIPPED = "skipped"  # already recorded with the same content: no new row
    RETRYING = "retrying"  # could not be read, and may still be growing: read again later
    VANISHED = "vanished"  # gone before it could be read, moved or deleted
    MOVED = "moved"  # --after move, once every row is durable
    DELETED = "deleted"  # --after delete, likewise
    DISPOSE_FAILED = "dispose_failed"  # could not be moved or deleted: tried again on the next rescan
    ROTATED = "rotated"  # the results file was renamed or emptied away: a new one is started
    READY = "ready"  # the service is up and watching
    SUMMARY = "summary"  # the periodic counts
    RELOADED = "reloaded"  # SIGHUP loaded the model again
    RELOAD_FAILED = "reload_failed"  # SIGHUP could not load the model: the old one goes on
    STOPPING = "stopping"  # a stop was asked for
