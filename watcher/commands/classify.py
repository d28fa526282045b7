"""`digitwatch classify`: classify files and folders once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.batch import InputError, classify
from watcher.classifier import ModelError
from watcher.commands import MaxPagesOption, ModelOption, NeutraliseOption, ReadTimeoutOption, fail
from watcher.logs import configure_logging
from watcher.protocol import LogLevel
from watcher.results import ResultsError
from watcher.settings import ClassifySettings

DEFAULTS = ClassifySettings(paths=())  # the one source of the defaults below


def classify_command(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH", help="Image and PDF files, and folders (searched recursively)."),
    ],
    results: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="Append rows to this CSV (header written once). Default: print CSV to stdout.",
            envvar="DIGITWATCH_RESULTS",
            dir_okay=False,
        ),
    ] = DEFAULTS.results,
    model: ModelOption = DEFAULTS.model,
    neutralise_formulas: NeutraliseOption = DEFAULTS.neutralise_formulas,
    max_pages: MaxPagesOption = DEFAULTS.max_pages,
    read_timeout: ReadTimeoutOption = DEFAULTS.read_timeout,
) -> None:
    """Classify image files, PDFs and folders once; one CSV row per file, or per page of a document."""
    configure_logging(LogLevel.WARNING if results is None else LogLevel.INFO)  # stdout may be the CSV
    settings = ClassifySettings(
        paths=tuple(paths),
        results=results,
        model=model,
        neutralise_formulas=neutralise_formulas,
        max_pages=max_pages,
        read_timeout=read_timeout,
    )
    try:
        summary = classify(settings)
    except (InputError, ModelError, ResultsError) as exc:
        raise fail(str(exc)) from exc
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(summary.skipped.items()))
    if results is not None:
        counts = ", ".join(f"{count} {status}" for status, count in sorted(summary.counts.items()))
        typer.echo(
            f"{summary.files} files classified, {summary.total} rows ({counts or 'none'}); rows appended to {results}",
            err=True,
        )
    if skipped:
        typer.echo(f"skipped in the folders: {skipped}", err=True)
