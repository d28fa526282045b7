"""`digitwatch report`: a page of charts and counts from the results CSV, and what people's corrections say."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from watcher.commands import fail
from watcher.model.backends import ExtraMissing
from watcher.results.corrections import CorrectionsError
from watcher.results.store import ResultsError
from watcher.settings import DEFAULT_RESULTS, DEFAULT_REVIEW_BELOW, ReportSettings

if TYPE_CHECKING:
    from watcher.report.agreement import Agreement


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
    corrections: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="People's corrections, for the agreement section. Default: corrections.csv beside the results.",
            envvar="DIGITWATCH_CORRECTIONS",
            dir_okay=False,
        ),
    ] = None,
    below: Annotated[
        float,
        typer.Option(
            metavar="CONFIDENCE",
            min=0.0,
            max=1.0,
            help="The review's --below: a checked ok row at or above it counts as a spot check.",
        ),
    ] = DEFAULT_REVIEW_BELOW,
) -> None:
    """Write one HTML page: counts by status and day, digits, confidence, why files got no digit, rows per hour;
    then agreement with people's corrections and the share of sure (ok) answers that spot checks found wrong."""
    # Imported here: it brings pandas, which no other command (above all not `watch`) should load.
    from watcher.report.build import ReportError, write_report

    settings = ReportSettings(results=results, out=out, corrections=corrections, below=below)

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreading {results}: {done * 100 // max(total, 1)}%", err=True, nl=False)

    try:
        summary = write_report(settings, progress=progress)
    except (ResultsError, CorrectionsError, ReportError, ExtraMissing) as exc:
        typer.echo("", err=True)
        raise fail(str(exc)) from exc
    typer.echo("", err=True)
    typer.echo(f"{summary.rows} rows for {summary.files} files; report written to {summary.path}", err=True)
    typer.echo(checked_line(summary.agreement), err=True)


def checked_line(checks: Agreement) -> str:
    """What the corrections say, in one line for the terminal."""
    checked = f"people checked {checks.checked:,} of {checks.readings:,} readings"
    spot = checks.wrong_but_ok
    if spot is None:
        return f"{checked}; no spot checks yet (review --spot-check PCT)"
    return (
        f"{checked}; spot checks: {spot.hits:,} of {spot.size:,} sure ok rows wrong, {100 * spot.rate:.2f}% "
        f"(95% interval {100 * spot.low:.2f}% to {100 * spot.high:.2f}%)"
    )
