"""`digitwatch export`: the final table (the model's answers with people's corrections), or the results CSV
of a Spark output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import NeutraliseOption, fail
from watcher.protocol import Table
from watcher.results.corrections import CorrectionsError
from watcher.results.export import ExportError, ExportSettings, export_table
from watcher.results.store import ResultsError
from watcher.settings import DEFAULT_RESULTS, corrections_beside


def export_command(
    out: Annotated[
        Path,
        typer.Option(
            metavar="CSV",
            help="Write the table here (a final table replaces an earlier export; a results CSV is only written new).",
            dir_okay=False,
        ),
    ],
    results: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help=f"The results CSV to read. Default: {DEFAULT_RESULTS}, unless --parquet is given.",
            envvar="DIGITWATCH_RESULTS",
            dir_okay=False,
        ),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Read a `classify --engine spark` output instead; alone, it becomes the results CSV.",
            file_okay=False,
        ),
    ] = None,
    corrections: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="People's corrections to apply (the final table). "
            "Default with --results: corrections.csv beside the results, when there is one.",
            envvar="DIGITWATCH_CORRECTIONS",
            dir_okay=False,
        ),
    ] = None,
    neutralise_formulas: NeutraliseOption = True,
) -> None:
    """Write one row per file (and page), from its latest reading.

    From --results (or --parquet with --corrections): the final table, with final_digit and source (model or
    person). From --parquet alone: the results CSV the local service would have written for the same files.
    """
    if results is not None and parquet is not None:
        raise fail("give one source: --results CSV or --parquet DIR", code=2)
    if parquet is None:
        results = results or DEFAULT_RESULTS
        corrections = corrections or corrections_beside(results)
    settings = ExportSettings(
        out=out, results=results, parquet=parquet, corrections=corrections, neutralise_formulas=neutralise_formulas
    )
    from watcher.results.parquet import SparkOutputError  # no pyspark: it reads Spark's log itself

    try:
        summary = export_table(settings)
    except (ResultsError, CorrectionsError, ExportError, SparkOutputError) as exc:
        raise fail(str(exc)) from exc
    if settings.table == Table.RESULTS:
        typer.echo(f"{summary.rows} rows written to {out}", err=True)
        return
    typer.echo(f"{summary.rows} rows written to {out}; {summary.by_person} decided by a person", err=True)
    if summary.unmatched_corrections:
        typer.echo(
            f"{summary.unmatched_corrections} corrections match no row of {results or parquet} "
            "(a file not in these results, or changed since it was corrected)",
            err=True,
        )
