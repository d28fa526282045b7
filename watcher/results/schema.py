"""The results row, defined once: its columns and their types, from which the CSV header, Spark's schema and
the export's columns all follow.

New columns go at the end, never between: scripts read columns by position too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from watcher.clock import utc_now
from watcher.protocol import Prediction, Status

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas
FORMULA_GUARD = "'"  # a leading apostrophe makes spreadsheets show the cell as text


class ColumnType(StrEnum):
    """A column's type, named as Spark's DDL names it."""

    TEXT = "string"
    INTEGER = "int"
    REAL = "double"


@dataclass(frozen=True)
class Column:
    """One column of the results: its name and type."""

    name: str
    type: ColumnType


SCHEMA = (
    Column("filename", ColumnType.TEXT),
    Column("digit", ColumnType.INTEGER),
    Column("confidence", ColumnType.REAL),
    Column("status", ColumnType.TEXT),
    Column("processed_at", ColumnType.TEXT),
    Column("detail", ColumnType.TEXT),
    Column("sha256", ColumnType.TEXT),
    Column("page", ColumnType.INTEGER),  # added in 0.3
)
COLUMNS = [column.name for column in SCHEMA]
LEGACY_COLUMNS = COLUMNS[:7]  # files written before 0.3 have no page column


def spark_ddl() -> str:
    """The schema as Spark's DDL string: `filename string, digit int, ...`."""
    return ", ".join(f"{column.name} {column.type}" for column in SCHEMA)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One results row: a file (or one page of it), what the model read there, and when.

    The same type is written by `watch`, `classify` and Spark, and read back by
    `review`, `report` and `export`.
    """

    filename: str  # the real file name; a formula guard is added only in the CSV's cell
    digit: int | None
    confidence: float | None
    status: Status
    processed_at: str
    detail: str
    sha256: str
    page: int | None  # 1-based page of a PDF or multi-page TIFF; None for a single image

    @classmethod
    def of(
        cls, filename: str, prediction: Prediction, *, sha256: str = "", page: int | None = None, processed_at: str = ""
    ) -> ResultRow:
        """The row for a file's (or page's) prediction, stamped now unless `processed_at` is given."""
        return cls(
            filename=filename,
            digit=prediction.digit,
            confidence=prediction.confidence,
            status=prediction.status,
            processed_at=processed_at or utc_now(),
            detail=" ".join(prediction.detail.split()),  # people read details in spreadsheets: one line
            sha256=sha256,
            page=page,
        )

    @classmethod
    def from_cells(cls, cells: list[str]) -> ResultRow:
        """A row from CSV cells in COLUMNS (or LEGACY_COLUMNS) order; an unknown status reads as `error`."""
        filename, digit, confidence, status, processed_at, detail, sha256 = cells[:7]
        page = cells[7] if len(cells) > 7 else ""
        return cls(
            filename=unneutralise(filename),
            digit=int(digit) if digit.isdigit() else None,
            confidence=_number(confidence),
            status=Status.parse(status),
            processed_at=processed_at,
            detail=sys.intern(detail),  # a few reasons repeat over many rows: one copy of each
            sha256=sha256,
            page=int(page) if page.isdigit() else None,
        )

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ResultRow:
        """A row from typed values by column name (a Parquet record); an unknown status reads as `error`."""
        return cls(
            filename=str(values["filename"]),
            digit=values["digit"],
            confidence=values["confidence"],
            status=Status.parse(str(values["status"])),
            processed_at=str(values["processed_at"]),
            detail=str(values["detail"] or ""),
            sha256=str(values["sha256"] or ""),
            page=values["page"],
        )

    @property
    def key(self) -> tuple[str, int | None]:
        """What a final table has one row for: the file and its page."""
        return self.filename, self.page

    def values(self) -> tuple[Any, ...]:
        """The typed values in SCHEMA order (for Spark and Arrow)."""
        return tuple(getattr(self, column.name) for column in SCHEMA)

    def cells(self, *, neutralise_formulas: bool = False) -> list[str]:
        """The row as CSV cells in COLUMNS order; the name guarded against spreadsheet formulas when asked."""
        return [
            neutralise(self.filename) if neutralise_formulas else self.filename,
            "" if self.digit is None else str(self.digit),
            "" if self.confidence is None else f"{self.confidence:.4f}",
            str(self.status),
            self.processed_at,
            self.detail,
            self.sha256,
            "" if self.page is None else str(self.page),
        ]


def neutralise(cell: str) -> str:
    """Prefix a cell that a spreadsheet would execute, so it is shown as text."""
    return FORMULA_GUARD + cell if cell.startswith(FORMULA_PREFIXES) else cell


def unneutralise(cell: str) -> str:
    """Undo `neutralise`, to compare a CSV cell with a real file name."""
    if cell.startswith(FORMULA_GUARD) and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None
