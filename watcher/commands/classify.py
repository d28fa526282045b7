"""`digitwatch classify`: classify files and folders once, on this machine or on Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.batch.classify import InputError, classify
from watcher.commands import (
    MaxPagesOption,
    ModelOption,
    fail,
    given_options,
    neutralise_option,
    read_timeout_option,
    results_folder_exists,
)
from watcher.model.classifier import ModelError
from watcher.ops.logs import configure_logging
from watcher.protocol import After, Engine, LogLevel
from watcher.results.store import ResultsError
from watcher.settings import ClassifySettings, SparkSettings

DEFAULTS = ClassifySettings(paths=())  # the one source of the defaults below
SPARK_DEFAULTS = SparkSettings(source="", out="")
# The options only one engine reads, each in its own section of --help; the other engine refuses them.
LOCAL_PANEL = "Local engine (the default)"
SPARK_PANEL = "Spark engine (--engine spark)"


def classify_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            help="Image and PDF files, and folders (searched recursively). With --engine spark: one folder, "
            "or a URI Spark reads (s3a://bucket/prefix, hdfs://...).",
        ),
    ],
    results: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="Append rows to this CSV (header written once), in a folder that exists. "
            "Default: print CSV to stdout.",
            envvar="DIGITWATCH_RESULTS",
            dir_okay=False,
            callback=results_folder_exists,
            rich_help_panel=LOCAL_PANEL,
        ),
    ] = DEFAULTS.results,
    neutralise_formulas: Annotated[bool, neutralise_option(panel=LOCAL_PANEL)] = DEFAULTS.neutralise_formulas,
    read_timeout: Annotated[float, read_timeout_option(panel=LOCAL_PANEL)] = DEFAULTS.read_timeout,
    engine: Annotated[
        Engine,
        typer.Option(
            metavar="[local|spark]",
            help="local: this machine's cores. spark: Apache Spark (the spark extra and Java 17).",
        ),
    ] = Engine.LOCAL,
    model: ModelOption = DEFAULTS.model,
    max_pages: MaxPagesOption = DEFAULTS.max_pages,
    out: Annotated[
        str | None,
        typer.Option(metavar="DIR", help="The Parquet output folder or URI (needed).", rich_help_panel=SPARK_PANEL),
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Spark's progress; run again with the same one to go on. Default: _checkpoint inside --out.",
            rich_help_panel=SPARK_PANEL,
        ),
    ] = SPARK_DEFAULTS.checkpoint,
    master: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="local[N], spark://host:7077, yarn, k8s://... Default: what spark-submit set, else local[*].",
            envvar="DIGITWATCH_SPARK_MASTER",
            rich_help_panel=SPARK_PANEL,
        ),
    ] = SPARK_DEFAULTS.master,
    watch: Annotated[
        bool,
        typer.Option(help="Keep reading new files until stopped (SIGTERM, Ctrl-C).", rich_help_panel=SPARK_PANEL),
    ] = SPARK_DEFAULTS.watch,
    interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="With --watch: how often the source is listed for new files.",
            rich_help_panel=SPARK_PANEL,
        ),
    ] = SPARK_DEFAULTS.trigger_seconds,
    max_files_per_trigger: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="Most files per micro-batch.", rich_help_panel=SPARK_PANEL),
    ] = SPARK_DEFAULTS.max_files_per_trigger,
    after: Annotated[
        After,
        typer.Option(
            metavar="[keep|move|delete]",
            help="What Spark does with files once their rows are committed (its cleanSource).",
            rich_help_panel=SPARK_PANEL,
        ),
    ] = SPARK_DEFAULTS.after,
    processed_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="With --after move: where files go. Default: processed/ beside a local source folder.",
            rich_help_panel=SPARK_PANEL,
        ),
    ] = SPARK_DEFAULTS.processed_dir,
) -> None:
    """Classify image files, PDFs and folders once; one CSV row per file, or per page of a document.

    With --engine spark, Apache Spark reads one folder or bucket into Parquet, exactly once through its
    checkpoint; `digitwatch export --parquet DIR` turns that into the results CSV.
    """
    _refuse_the_other_engines_options(ctx, engine)
    if engine == Engine.SPARK:
        if out is None or len(paths) != 1:
            raise fail("--engine spark takes one source folder or URI, and --out DIR", code=2)
        _run_on_spark(
            SparkSettings(
                source=paths[0],
                out=out,
                checkpoint=checkpoint,
                master=master,
                watch=watch,
                trigger_seconds=interval,
                max_files_per_trigger=max_files_per_trigger,
                after=after,
                processed_dir=processed_dir,
                model=model,
                max_pages=max_pages,
            )
        )
        return
    _run_locally(
        ClassifySettings(
            paths=tuple(Path(path) for path in paths),
            results=results,
            model=model,
            neutralise_formulas=neutralise_formulas,
            max_pages=max_pages,
            read_timeout=read_timeout,
        )
    )


def _refuse_the_other_engines_options(ctx: typer.Context, engine: Engine) -> None:
    """Exit 2 naming each option given on the command line that `engine` would ignore.

    One set in the environment only gets a note: a variable such as
    DIGITWATCH_RESULTS serves several commands (the service's env file sets
    it), so it is not a mistake on this command line.
    """
    panel = LOCAL_PANEL if engine == Engine.SPARK else SPARK_PANEL
    given = given_options(ctx, panel=panel)
    for option in (option for option in given if option.envvar is not None):
        typer.echo(f"note: {option.envvar} is set, but --engine {engine} does not use {option.name}", err=True)
    named = [option.name for option in given if option.envvar is None]
    if not named:
        return
    them = "it" if len(named) == 1 else "them"
    if engine == Engine.LOCAL:
        raise fail(f"{', '.join(named)}: only with --engine spark; add --engine spark, or leave {them} out", code=2)
    where = " (Spark writes Parquet to --out)" if "--results" in named else ""
    raise fail(
        f"{', '.join(named)}: only with the local engine, --engine spark would ignore {them}; leave {them} out{where}",
        code=2,
    )


def _run_locally(settings: ClassifySettings) -> None:
    configure_logging(LogLevel.WARNING if settings.results is None else LogLevel.INFO)  # stdout may be the CSV
    try:
        summary = classify(settings)
    except (InputError, ModelError, ResultsError) as exc:
        raise fail(str(exc)) from exc
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(summary.skipped.items()))
    if settings.results is not None:
        counts = ", ".join(f"{count} {status}" for status, count in sorted(summary.counts.items()))
        typer.echo(
            f"{summary.files} files classified, {summary.total} rows ({counts or 'none'}); "
            f"rows appended to {settings.results}",
            err=True,
        )
    if skipped:
        typer.echo(f"skipped in the folders: {skipped}", err=True)


def _run_on_spark(settings: SparkSettings) -> None:
    from watcher.results.parquet import SparkOutputError
    from watcher.spark.following import SparkJobError
    from watcher.spark.session import SparkUnavailable
    from watcher.spark.stream import run_on_spark

    configure_logging(LogLevel.INFO)
    try:
        summary = run_on_spark(settings, progress=lambda line: typer.echo(line, err=True))
    except (SparkUnavailable, SparkOutputError, SparkJobError, ModelError) as exc:
        raise fail(str(exc)) from exc
    ended = "stopped by a signal; run the same command to go on" if summary.stopped else "done"
    batches = f"{summary.batches} micro-batch{'' if summary.batches == 1 else 'es'}"
    typer.echo(
        f"{summary.files:,} new files read in {batches}, {ended}. Rows: {settings.out} "
        f"(the results CSV: digitwatch export --parquet {settings.out} --out results.csv)",
        err=True,
    )
