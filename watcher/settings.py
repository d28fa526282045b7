"""The settings objects the commands build; precedence is option > environment variable > default.

Typer resolves that precedence (each option names its DIGITWATCH_* variable);
after that, code passes these frozen objects around, never loose options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watcher.protocol import After, LogFormat, LogLevel
from watcher.reading.formats import name_patterns

DEFAULT_INBOX = Path("inbox")
DEFAULT_RESULTS = Path("results") / "predictions.csv"
IMAGE_PATTERNS = name_patterns()  # every format's suffixes, declared in watcher.reading.formats


def processed_beside(inbox: Path) -> Path:
    """The default folder for processed files: "processed" beside the inbox."""
    return inbox.resolve().parent / "processed"


def image_folders_beside(inbox: Path) -> tuple[Path, ...]:
    """Where files the results name are looked for by default: the inbox, then the processed folder."""
    return inbox, processed_beside(inbox)


def corrections_beside(results: Path) -> Path:
    """The default corrections file: corrections.csv in the results CSV's folder."""
    return results.parent / "corrections.csv"


DEFAULT_MAX_PAGES = 100  # pages: a longer document gets one error row, no page rows
DEFAULT_READ_TIMEOUT = 10.0  # seconds a decode worker may spend on one page (or image) of a file


@dataclass(frozen=True)
class ClassifySettings:
    """What `digitwatch classify` needs."""

    paths: tuple[Path, ...]
    results: Path | None = None  # None: print CSV on standard output
    model: Path | None = None  # None: the shipped model
    patterns: tuple[str, ...] = IMAGE_PATTERNS
    neutralise_formulas: bool = True
    max_pages: int = DEFAULT_MAX_PAGES  # a longer document gets one error row, no page rows
    read_timeout: float = DEFAULT_READ_TIMEOUT  # seconds a worker may spend on one page (or image)


@dataclass(frozen=True)
class WatchSettings:
    """What `digitwatch watch` needs; see `watcher.service.loop` for what each setting does."""

    inbox: Path = DEFAULT_INBOX
    results: Path = DEFAULT_RESULTS
    model: Path | None = None  # None: the shipped model
    patterns: tuple[str, ...] = IMAGE_PATTERNS
    ignore_patterns: tuple[str, ...] = ()  # added to the built-in temporary and lock file patterns
    recursive: bool = False
    poll_seconds: float | None = None  # None: native file-system events; else poll every N seconds
    settle_seconds: float = 0.25  # a file must be quiet this long before it is read
    rescan_interval_seconds: float = 180.0  # events are hints; a rescan catches what they missed
    after: After = After.KEEP
    processed_dir: Path | None = None  # None with --after move: a "processed" folder beside the inbox
    failed_dir: Path | None = None  # None with --after move: a "failed" folder beside the inbox
    once: bool = False  # process the backlog, then exit
    neutralise_formulas: bool = True
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.PLAIN
    summary_interval_seconds: float = 60.0
    metrics_port: int | None = None  # None: no Prometheus endpoint
    metrics_address: str = "127.0.0.1"  # where the metrics endpoint listens; 0.0.0.0 for every interface
    max_pages: int = DEFAULT_MAX_PAGES  # a longer document gets one error row, no page rows
    read_timeout: float = DEFAULT_READ_TIMEOUT  # seconds a worker may spend on one page (or image)

    def processed_folder(self) -> Path | None:
        """Where processed files go, or None when they stay (keep) or are deleted."""
        if self.after != After.MOVE:
            return None
        return self.processed_dir or processed_beside(self.inbox)

    def failed_folder(self) -> Path | None:
        """Where unreadable files go: the failed folder with move, or with delete when one is given."""
        if self.after == After.MOVE:
            return self.failed_dir or self.inbox.resolve().parent / "failed"
        return self.failed_dir if self.after == After.DELETE else None


@dataclass(frozen=True)
class SparkSettings:
    """What `digitwatch classify --engine spark` needs; see `watcher.spark.stream`."""

    source: str  # a folder, or a URI Spark reads (s3a://bucket/prefix, hdfs://...)
    out: str  # the Parquet folder (or URI)
    checkpoint: str | None = None  # None: _checkpoint inside `out`
    master: str | None = None  # None: what spark-submit set, else local[*]
    watch: bool = False  # False: read what is there, then exit
    max_files_per_trigger: int | None = None  # None: Spark's default (every new file in one micro-batch)
    trigger_seconds: float = 5.0  # with watch, how often the source is listed for new files
    after: After = After.KEEP
    processed_dir: str | None = None  # None with --after move: "processed" beside a local source
    model: Path | None = None  # None: the shipped model
    patterns: tuple[str, ...] = IMAGE_PATTERNS
    max_pages: int = DEFAULT_MAX_PAGES

    def checkpoint_location(self) -> str:
        """Where Spark keeps its progress: the one given, else _checkpoint inside the output."""
        return self.checkpoint or f"{self.out.rstrip('/')}/_checkpoint"


DEFAULT_REVIEW_PORT = 8765
DEFAULT_REVIEW_BELOW = 0.9  # `ok` rows under this confidence are queued for a person too


@dataclass(frozen=True)
class ReviewSettings:
    """What `digitwatch review` needs; see `watcher.review` for what each setting does."""

    results: Path = DEFAULT_RESULTS
    corrections: Path | None = None  # None: corrections.csv beside the results
    images: tuple[Path, ...] = ()  # folders holding the files the results name; () : the inbox and "processed"
    inbox: Path = DEFAULT_INBOX
    host: str = "127.0.0.1"
    port: int = DEFAULT_REVIEW_PORT
    token: str | None = None  # None: one is made up at start (needed for every write, and for reads off loopback)
    reviewer: str = ""  # written in each correction's reviewer column
    below: float = DEFAULT_REVIEW_BELOW
    spot_check: float = 0.0  # percent of the ok rows at or above `below` queued too, as a spot check; 0: none
    error_days: int = 7  # error rows this recent are queued

    def image_folders(self) -> tuple[Path, ...]:
        """Where files named in the results are looked for, in order."""
        return self.images or image_folders_beside(self.inbox)

    def corrections_file(self) -> Path:
        """The corrections file: the one given, else corrections.csv beside the results."""
        return self.corrections or corrections_beside(self.results)


@dataclass(frozen=True)
class ReportSettings:
    """What `digitwatch report` needs."""

    results: Path = DEFAULT_RESULTS
    out: Path | None = None  # None: report.html beside the results
    corrections: Path | None = None  # None: corrections.csv beside the results (none there: nothing checked yet)
    below: float = DEFAULT_REVIEW_BELOW  # a checked ok row at or above this was a spot check, as review draws them

    def out_file(self) -> Path:
        """Where the page goes: the one given, else report.html beside the results."""
        return self.out or self.results.parent / "report.html"

    def corrections_file(self) -> Path:
        """The corrections file: the one given, else corrections.csv beside the results."""
        return self.corrections or corrections_beside(self.results)
