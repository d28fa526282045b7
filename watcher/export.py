"""The final table: one row per file (and page), the model's answer or a person's correction of it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from watcher.atomic import write_atomically
from watcher.corrections import Correction, corrections_by_file, read_corrections, winning
from watcher.protocol import Source, Status
from watcher.results import COLUMNS, neutralise
from watcher.results_reader import ResultRecord, read_results

FINAL_COLUMNS = [*COLUMNS, "final_digit", "source"]


class ExportError(Exception):
    """The final table cannot be written where asked."""


@dataclass(frozen=True)
class ExportSettings:
    """What `digitwatch export` needs."""

    results: Path
    out: Path
    corrections: Path | None = None  # None: the model's answers alone
    neutralise_formulas: bool = True


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows in all, rows a person decided, corrections that matched no row."""

    rows: int
    by_person: int
    unmatched_corrections: int


def export_final(settings: ExportSettings) -> ExportSummary:
    """Write the final table: for each file (and page) its latest results row, then the last correction
    that applies to that content. Written to a temporary file and renamed into place."""
    _check_out(settings)
    records = _latest_rows(read_results(settings.results))
    corrections = corrections_by_file(read_corrections(settings.corrections) if settings.corrections else [])
    rows, by_person, used = [], 0, set()
    for record in records:
        correction = winning(corrections.get(record.key, []), record.sha256)
        if correction is not None:
            by_person += 1
            used.add(record.key)
        rows.append(_final_cells(record, correction, neutralise_formulas=settings.neutralise_formulas))
    _write_table(settings.out, rows)
    unmatched = sum(len(found) for key, found in corrections.items() if key not in used)
    return ExportSummary(rows=len(rows), by_person=by_person, unmatched_corrections=unmatched)


def _latest_rows(records: list[ResultRecord]) -> list[ResultRecord]:
    """The last row written for each file and page, in the order files first appeared."""
    latest: dict[tuple[str, int | None], ResultRecord] = {}
    for record in records:
        latest.pop(record.key, None)  # a file read again moves to where its newest row is
        latest[record.key] = record
    return list(latest.values())


def _final_cells(record: ResultRecord, correction: Correction | None, *, neutralise_formulas: bool) -> list[str]:
    """The record's cells, then its final digit and who gave it.

    The model's digit is final only for an `ok` row: an uncertain reading is
    no answer until a person confirms it.
    """
    cells = record.cells()
    if neutralise_formulas:
        cells[0] = neutralise(cells[0])
    if correction is not None:
        final, source = correction.digit, Source.PERSON
    else:
        final, source = (record.digit if record.status == Status.OK else None), Source.MODEL
    return [*cells, "" if final is None else str(final), str(source)]


def _check_out(settings: ExportSettings) -> None:
    """Refuse to write over an input, or over a file that is not a final table of ours."""
    inputs = [settings.results, *([settings.corrections] if settings.corrections else [])]
    if settings.out.exists():
        if any(settings.out.resolve() == path.resolve() for path in inputs if path.exists()):
            raise ExportError(f"{settings.out} is an input of the export; write the final table elsewhere")
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


def _write_table(out: Path, rows: list[list[str]]) -> None:
    """Write the table beside `out` and rename it into place: a reader never sees half a table."""

    def write(file: TextIO) -> None:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(FINAL_COLUMNS)
        writer.writerows(rows)

    try:
        write_atomically(out, write, newline="")
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
