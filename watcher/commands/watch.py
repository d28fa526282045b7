"""`digitwatch watch`: the hot-folder service."""

from __future__ import annotations

import logging
import math
import multiprocessing.util
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import (
    MaxPagesOption,
    ModelOption,
    NeutraliseOption,
    ReadTimeoutOption,
    fail,
    results_folder_exists,
)
from watcher.errors import ServiceError
from watcher.model.classifier import ModelError
from watcher.ops.logs import configure_logging
from watcher.ops.telemetry import TelemetryError
from watcher.protocol import After, LogFormat, LogLevel
from watcher.results.store import ResultsError
from watcher.service import loop as service
from watcher.service.inbox import MAX_SECONDS
from watcher.settings import WatchSettings

DEFAULTS = WatchSettings()  # the one source of every default below


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _image_patterns(text: str) -> str:
    """Refuse a pattern list that would match nothing: empty, or separated by ';' instead of ','."""
    _ignore_patterns(text)
    if not _patterns(text):
        raise typer.BadParameter("no pattern given: no file would ever be read")
    return text


def _ignore_patterns(text: str) -> str:
    if ";" in text:
        raise typer.BadParameter(f"separate patterns with ',' not ';' (got {text!r})")
    return text


def _seconds(value: float | None) -> float | None:
    """Refuse durations that are not finite or longer than a week (typer checks the lower bounds)."""
    if value is not None and not (math.isfinite(value) and value <= MAX_SECONDS):
        raise typer.BadParameter(f"{value} is not a number of seconds up to {MAX_SECONDS:g} (a week)")
    return value


def watch_command(
    inbox: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="Folder to watch; it must exist.",
            envvar="DIGITWATCH_INBOX",
            file_okay=False,
            exists=True,
            resolve_path=True,
        ),
    ] = DEFAULTS.inbox,
    results: Annotated[
        Path,
        typer.Option(
            metavar="CSV",
            help="Results CSV, also the ledger of what is done; outside the inbox, in a folder that exists "
            "(only the default's is created).",
            envvar="DIGITWATCH_RESULTS",
            dir_okay=False,
            callback=results_folder_exists,
        ),
    ] = DEFAULTS.results,
    model: ModelOption = DEFAULTS.model,
    patterns: Annotated[
        str,
        typer.Option(
            metavar="LIST",
            help="Comma-separated name patterns of images to read (any case). "
            "Default: " + ", ".join(DEFAULTS.patterns) + ".",
            show_default=False,
            envvar="DIGITWATCH_PATTERNS",
            callback=_image_patterns,
        ),
    ] = ",".join(DEFAULTS.patterns),
    ignore: Annotated[
        str,
        typer.Option(
            metavar="LIST",
            help="Comma-separated patterns to ignore, besides temporary and lock files.",
            envvar="DIGITWATCH_IGNORE",
            callback=_ignore_patterns,
        ),
    ] = ",".join(DEFAULTS.ignore_patterns),
    recursive: Annotated[
        bool,
        typer.Option("--recursive/--no-recursive", help="Also watch subfolders.", envvar="DIGITWATCH_RECURSIVE"),
    ] = DEFAULTS.recursive,
    poll: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            envvar="DIGITWATCH_POLL",
            callback=_seconds,
            help="Poll every N seconds instead of native events (network shares).",
        ),
    ] = DEFAULTS.poll_seconds,
    settle: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.0,
            envvar="DIGITWATCH_SETTLE",
            callback=_seconds,
            help="A file must be unchanged this long before it is read.",
        ),
    ] = DEFAULTS.settle_seconds,
    rescan_interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=1.0,
            envvar="DIGITWATCH_RESCAN_INTERVAL",
            callback=_seconds,
            help="Rescan the inbox this often, to catch what events missed.",
        ),
    ] = DEFAULTS.rescan_interval_seconds,
    after: Annotated[
        After,
        typer.Option(
            metavar="[keep|move|delete]",
            help="What to do with a file once its row is written.",
            envvar="DIGITWATCH_AFTER",
        ),
    ] = DEFAULTS.after,
    processed_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="With --after move: where read files go. Default: processed/ beside the inbox.",
            envvar="DIGITWATCH_PROCESSED_DIR",
            file_okay=False,
        ),
    ] = DEFAULTS.processed_dir,
    failed_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="With --after move or delete: where unreadable files go. Default with move: failed/ beside the inbox.",
            envvar="DIGITWATCH_FAILED_DIR",
            file_okay=False,
        ),
    ] = DEFAULTS.failed_dir,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Process the files already in the inbox, then exit (for cron).", envvar="DIGITWATCH_ONCE"
        ),
    ] = DEFAULTS.once,
    neutralise_formulas: NeutraliseOption = DEFAULTS.neutralise_formulas,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            metavar="[debug|info|warning|error]",
            help="Least important log level shown. Default: info.",
            show_default=False,
            envvar="DIGITWATCH_LOG_LEVEL",
            case_sensitive=False,
        ),
    ] = DEFAULTS.log_level,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            metavar="[plain|json]",
            help="Log lines on stderr as plain text or JSON lines.",
            envvar="DIGITWATCH_LOG_FORMAT",
        ),
    ] = DEFAULTS.log_format,
    summary_interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=1.0,
            envvar="DIGITWATCH_SUMMARY_INTERVAL",
            callback=_seconds,
            help="Log a summary (seen, classified, failed, queue depth) this often.",
        ),
    ] = DEFAULTS.summary_interval_seconds,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            min=1,
            max=65535,
            envvar="DIGITWATCH_METRICS_PORT",
            help="Serve Prometheus metrics on this port (default: none).",
        ),
    ] = DEFAULTS.metrics_port,
    metrics_address: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            envvar="DIGITWATCH_METRICS_ADDRESS",
            help="Address the metrics endpoint listens on; 0.0.0.0 for every interface.",
        ),
    ] = DEFAULTS.metrics_address,
    max_pages: MaxPagesOption = DEFAULTS.max_pages,
    read_timeout: ReadTimeoutOption = DEFAULTS.read_timeout,
) -> None:
    """Watch the inbox and classify every image or PDF dropped into it; one CSV row per file (per page)."""
    settings = WatchSettings(
        inbox=inbox,
        results=results,
        model=model,
        patterns=_patterns(patterns),
        ignore_patterns=_patterns(ignore),
        recursive=recursive,
        poll_seconds=poll,
        settle_seconds=settle,
        rescan_interval_seconds=rescan_interval,
        after=after,
        processed_dir=processed_dir,
        failed_dir=failed_dir,
        once=once,
        neutralise_formulas=neutralise_formulas,
        log_level=log_level,
        log_format=log_format,
        summary_interval_seconds=summary_interval,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        max_pages=max_pages,
        read_timeout=read_timeout,
    )
    configure_logging(settings.log_level, settings.log_format)
    try:
        counts = service.run(settings)
    except (ServiceError, ModelError, ResultsError, TelemetryError) as exc:
        raise fail(str(exc)) from exc
    if settings.once and counts.dispose_failed:
        raise fail(
            f"{counts.dispose_failed} files could not be {settings.after.value}d (see the log); "
            "their rows are written, and they are tried again on the next run"
        )
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """Exit 0 now, skipping the interpreter's teardown of TensorFlow, when a Keras model loaded it.

    That teardown does nothing useful (every row is already fsynced) and takes
    seconds on a busy machine, which would break the promise to exit within
    2 s of SIGTERM. Without TensorFlow (the shipped model runs on LiteRT) the
    normal exit is quick, and it also removes multiprocessing's temporary
    folder. Only the installed console script does this; a caller running the
    app in-process (tests, CliRunner) returns normally.
    """
    if Path(sys.argv[0]).name not in ("digitwatch", "digitwatch.exe") or "tensorflow" not in sys.modules:
        return
    # The finalizers the skipped teardown would have run: multiprocessing's remove its temporary folder.
    run_finalizers = getattr(multiprocessing.util, "_run_finalizers", None)
    if run_finalizers is not None:
        run_finalizers()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
