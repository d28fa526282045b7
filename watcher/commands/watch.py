"""`digitwatch watch`: the hot-folder service."""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from watcher import service
from watcher.classifier import ModelError
from watcher.commands import ModelOption, NeutraliseOption, fail
from watcher.logs import configure_service_logging
from watcher.results import ResultsError
from watcher.settings import DEFAULT_INBOX, DEFAULT_RESULTS, IMAGE_PATTERNS, WatchSettings


class After(str, Enum):
    keep = "keep"
    move = "move"
    delete = "delete"


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(str, Enum):
    plain = "plain"
    json = "json"


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def watch_command(
    inbox: Annotated[
        Path,
        typer.Option(help="Folder to watch; it must exist.",
                     envvar="DIGITWATCH_INBOX", file_okay=False, exists=True, resolve_path=True),
    ] = DEFAULT_INBOX,
    results: Annotated[
        Path,
        typer.Option(help="Results CSV, also the ledger of what is done; must lie outside the inbox.",
                     envvar="DIGITWATCH_RESULTS", dir_okay=False),
    ] = DEFAULT_RESULTS,
    model: ModelOption = None,
    patterns: Annotated[
        str,
        typer.Option(help="Comma-separated name patterns of images to read (case-insensitive).",
                     envvar="DIGITWATCH_PATTERNS"),
    ] = ",".join(IMAGE_PATTERNS),
    ignore: Annotated[
        str,
        typer.Option(help="Comma-separated extra patterns to ignore, besides the built-in temporary and lock files.",
                     envvar="DIGITWATCH_IGNORE"),
    ] = "",
    recursive: Annotated[
        bool,
        typer.Option("--recursive/--no-recursive", help="Also watch subfolders.", envvar="DIGITWATCH_RECURSIVE"),
    ] = False,
    poll: Annotated[
        Optional[float],
        typer.Option(metavar="SECONDS", min=0.1, envvar="DIGITWATCH_POLL",
                     help="Poll every N seconds instead of native events (network shares: SMB, NFS)."),
    ] = None,
    settle: Annotated[
        float,
        typer.Option(metavar="SECONDS", min=0.0, envvar="DIGITWATCH_SETTLE",
                     help="A file must be unchanged this long before it is read."),
    ] = 0.25,
    rescan_interval: Annotated[
        float,
        typer.Option(metavar="SECONDS", min=1.0, envvar="DIGITWATCH_RESCAN_INTERVAL",
                     help="Rescan the inbox this often, to catch what events missed."),
    ] = 180.0,
    after: Annotated[
        After,
        typer.Option(help="What to do with a file once its row is written (keep never destroys data).",
                     envvar="DIGITWATCH_AFTER"),
    ] = After.keep,
    processed_dir: Annotated[
        Optional[Path],
        typer.Option(help="With --after move: where read files go. Default: 'processed' beside the inbox.",
                     envvar="DIGITWATCH_PROCESSED_DIR", file_okay=False),
    ] = None,
    failed_dir: Annotated[
        Optional[Path],
        typer.Option(help="With --after move (or delete): where unreadable files go. "
                          "Default with move: 'failed' beside the inbox.",
                     envvar="DIGITWATCH_FAILED_DIR", file_okay=False),
    ] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="Process the files already in the inbox, then exit (for cron).",
                     envvar="DIGITWATCH_ONCE"),
    ] = False,
    neutralise_formulas: NeutraliseOption = True,
    log_level: Annotated[
        LogLevel,
        typer.Option(help="Least important log level shown.", envvar="DIGITWATCH_LOG_LEVEL", case_sensitive=False),
    ] = LogLevel.INFO,
    log_format: Annotated[
        LogFormat,
        typer.Option(help="Log lines on stderr as plain text or JSON lines.", envvar="DIGITWATCH_LOG_FORMAT"),
    ] = LogFormat.plain,
    summary_interval: Annotated[
        float,
        typer.Option(metavar="SECONDS", min=1.0, envvar="DIGITWATCH_SUMMARY_INTERVAL",
                     help="Log a summary (seen, classified, failed, queue depth) this often."),
    ] = 60.0,
) -> None:
    """Watch the inbox and classify every image dropped into it; one CSV row per file."""
    configure_service_logging(log_level.value, log_format.value)
    settings = WatchSettings(
        inbox=inbox, results=results, model=model, patterns=_patterns(patterns), ignore_patterns=_patterns(ignore),
        recursive=recursive, poll_seconds=poll, settle_seconds=settle, rescan_interval_seconds=rescan_interval,
        after=after.value, processed_dir=processed_dir, failed_dir=failed_dir, once=once,
        neutralise_formulas=neutralise_formulas, log_level=log_level.value, log_format=log_format.value,
        summary_interval_seconds=summary_interval,
    )
    try:
        service.run(settings)
    except (service.ServiceError, ModelError, ResultsError) as exc:
        raise fail(str(exc)) from exc
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """Exit 0 now, skipping the interpreter's teardown of TensorFlow.

    That teardown does nothing useful (every row is already fsynced) and takes
    2-8 s on a busy two-core machine, which would break the promise to exit
    within 5 s of SIGTERM. Only the installed console script does this; a
    caller running the app in-process (tests, CliRunner) returns normally.
    """
    if Path(sys.argv[0]).name not in ("digitwatch", "digitwatch.exe"):
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
