"""The tables `digitwatch export` writes: the final table (one row per file and page, the model's answer or a
person's correction of it), and, from a Spark output, the results CSV the local service would have written."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from watcher.atomic import write_atomically
from watcher.protocol import Source, Status, Table
from watcher.results.corrections import Correction, corrections_by_file, read_corrections, winning
from watcher.results.reader import CsvSource
from watcher.results.schema import COLUMNS, ResultRow
from watcher.results.store import ResultSource

FINAL_COLUMNS = [*COLUMNS, "final_digit", "source"]


class ExportError(Exception):
    """The final table cannot be written where asked."""


@dataclass(frozen=True)
class ExportSettings:
    """What `digitwatch export` needs: one source (a results CSV or a Spark output), corrections, where to write."""

    out: Path
    results: Path | None = None  # a results CSV, or
    parquet: Path | None = None  # the Parquet output of `classify --engine spark`
    corrections: Path | None = None  # None: the model's answers alone
    neutralise_formulas: bool = True

    @property
    def table(self) -> Table:
        """From Parquet alone, the results CSV; with corrections, or from a results CSV, the final table."""
        return Table.RESULTS if self.parquet is not None and self.corrections is None else Table.FINAL

    def inputs(self) -> list[Path]:
        """The files and folders read."""
        return [path for path in (self.results, self.parquet, self.corrections) if path is not None]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows in all, rows a person decided, corrections that matched no row."""

    rows: int
    by_person: int
    unmatched_corrections: int


def export_table(settings: ExportSettings) -> ExportSummary:
    """Write the table `settings.table` names, for each file (and page) from its latest row; to a temporary
    file renamed into place.

    The final table adds the last correction that applies to that content;
    the results table is the results CSV, with exactly its columns.
    """
    _check_out(settings)
    records = _latest_rows(_source(settings).read())
    if settings.table == Table.RESULTS:
        _write_table(
            settings.out,
            COLUMNS,
            [record.cells(neutralise_formulas=settings.neutralise_formulas) for record in records],
        )
        return ExportSummary(rows=len(records), by_person=0, unmatched_corrections=0)
    corrections = corrections_by_file(read_corrections(settings.corrections) if settings.corrections else [])
    rows, by_person, used = [], 0, set()
    for record in records:
        correction = winning(corrections.get(record.key, []), record.sha256)
        if correction is not None:
            by_person += 1
            used.add(record.key)
        rows.append(_final_cells(record, correction, neutralise_formulas=settings.neutralise_formulas))
    _write_table(settings.out, FINAL_COLUMNS, rows)
    unmatched = sum(len(found) for key, found in corrections.items() if key not in used)
    return ExportSummary(rows=len(rows), by_person=by_person, unmatched_corrections=unmatched)


def _source(settings: ExportSettings) -> ResultSource:
    if settings.parquet is not None:
        from watcher.results.parquet import ParquetOutput  # needs pyarrow: only for a Spark output

        return ParquetOutput(settings.parquet)
    if settings.results is None:
        raise ExportError("export needs a source: --results CSV or --parquet DIR")
    return CsvSource(settings.results)


def _latest_rows(records: list[ResultRow]) -> list[ResultRow]:
    """The last row written for each file and page, in the order files first appeared."""
    latest: dict[tuple[str, int | None], ResultRow] = {}
    for record in records:
        latest.pop(record.key, None)  # a file read again moves to where its newest row is
        latest[record.key] = record
    return list(latest.values())


def _final_cells(record: ResultRow, correction: Correction | None, *, neutralise_formulas: bool) -> list[str]:
    """The record's cells, then its final digit and who gave it.

    The model's digit is final only for an `ok` row: an uncertain reading is
    no answer until a person confirms it.
    """
    cells = record.cells(neutralise_formulas=neutralise_formulas)
    if correction is not None:
        final, source = correction.digit, Source.PERSON
    else:
        final, source = (record.digit if record.status == Status.OK else None), Source.MODEL
    return [*cells, "" if final is None else str(final), str(source)]


def _check_out(settings: ExportSettings) -> None:
    """Refuse to write over an input, over any file when writing a results CSV (it may be a service's own),
    or over a file that is not a final table of ours."""
    if settings.out.exists():
        if any(settings.out.resolve() == path.resolve() for path in settings.inputs() if path.exists()):
            raise ExportError(f"{settings.out} is an input of the export; write the table elsewhere")
        if settings.table == Table.RESULTS:
            raise ExportError(
                f"{settings.out} exists; export writes a results CSV only as a new file, never over one "
                "(it may be a service's own); pass another --out, or move it aside"
            )
        if not settings.out.is_file() or _first_line(settings.out) != ",".join(FINAL_COLUMNS):
            raise ExportError(
                f"{settings.out} exists and is not a final table from digitwatch export; "
                "pass another --out, or move it aside"
            )


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.readline().rstrip("\r\n")
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _write_table(out: Path, columns: list[str], rows: list[list[str]]) -> None:
    """Write the table beside `out` and rename it into place: a reader never sees half a table."""

    def write(file: TextIO) -> None:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows(rows)

    try:
        write_atomically(out, write, newline="")
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
