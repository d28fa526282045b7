"""`digitwatch report`: a page of charts and counts from the results CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.backends import ExtraMissing
from watcher.commands import fail
from watcher.results import ResultsError
from watcher.settings import DEFAULT_RESULTS, ReportSettings


def report_command(
    results: Annotated[
        Path,
        typer.Option(metavar="CSV", help="The results CSV to report on.", envvar="DIGITWATCH_RESULTS", dir_okay=False),
    ] = DEFAULT_RESULTS,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="HTML", dir_okay=False, help="Write the page here. Default: report.html beside the results."
        ),
    ] = None,
) -> None:
    """Write one HTML page: counts by status and day, digits, confidence, why files got no digit, rows per hour."""
    # Imported here: it brings pandas, which no other command (above all not `watch`) should load.
    from watcher.review.report import ReportError, write_report

    settings = ReportSettings(results=results, out=out)

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreading {results}: {done * 100 // max(total, 1)}%", err=True, nl=False)

    try:
        summary = write_report(settings, progress=progress)
    except (ResultsError, ReportError, ExtraMissing) as exc:
        typer.echo("", err=True)
        raise fail(str(exc)) from exc
    typer.echo("", err=True)
    typer.echo(f"{summary.rows} rows for {summary.files} files; report written to {summary.path}", err=True)
