"""`digitwatch export`: the final table, the model's answers with people's corrections applied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import NeutraliseOption, fail
from watcher.corrections import CorrectionsError
from watcher.export import ExportError, ExportSettings, export_final
from watcher.results import ResultsError
from watcher.settings import DEFAULT_RESULTS, corrections_beside


def export_command(
    out: Annotated[
        Path,
        typer.Option(
            metavar="CSV",
            help="Write the final table here (replaced whole if it is an earlier export).",
            dir_okay=False,
        ),
    ],
    results: Annotated[
        Path,
        typer.Option(metavar="CSV", help="The results CSV to read.", envvar="DIGITWATCH_RESULTS", dir_okay=False),
    ] = DEFAULT_RESULTS,
    corrections: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="People's corrections to apply. Default: corrections.csv beside the results, when there is one.",
            envvar="DIGITWATCH_CORRECTIONS",
            dir_okay=False,
        ),
    ] = None,
    neutralise_formulas: NeutraliseOption = True,
) -> None:
    """Write one final row per file (and page): its latest reading, and final_digit and source (model or person)."""
    settings = ExportSettings(
        results=results,
        out=out,
        corrections=corrections or corrections_beside(results),
        neutralise_formulas=neutralise_formulas,
    )
    try:
        summary = export_final(settings)
    except (ResultsError, CorrectionsError, ExportError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{summary.rows} rows written to {out}; {summary.by_person} decided by a person", err=True)
    if summary.unmatched_corrections:
        typer.echo(
            f"{summary.unmatched_corrections} corrections match no row of {results} "
            "(a file not in these results, or changed since it was corrected)",
            err=True,
        )
