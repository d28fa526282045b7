"""The words the parts of digitwatch pass to each other, each defined once.

They are `StrEnum`s, so each member is also its plain string: it goes into
the CSV, the logs and the JSON status file as written here.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A results row's `status` column."""

    OK = "ok"  # a digit, read with confidence at or above the model's threshold
    UNCERTAIN = "uncertain"  # a digit, but below the threshold: a person should check it
    NO_DIGIT = "no_digit"  # the image holds no ink, or nothing the model takes for a digit
    ERROR = "error"  # the file could not be read or classified; `detail` says why


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
