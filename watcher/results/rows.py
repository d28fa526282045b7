"""The results CSV: one row per file (per page of a document), appended durably; also the ledger of what is done."""

from __future__ import annotations

import csv
import io
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watcher.model.classifier import Prediction

log = logging.getLogger(__name__)

# New columns go at the end, never between: scripts read columns by position too.
LEGACY_COLUMNS = ["filename", "digit", "confidence", "status", "processed_at", "detail", "sha256"]  # before 0.3
COLUMNS = [*LEGACY_COLUMNS, "page"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas
FORMULA_GUARD = "'"  # a leading apostrophe makes spreadsheets show the cell as text


class ResultsError(Exception):
    """The results file cannot be read or written."""


@dataclass(frozen=True)
class ResultRow:
    """One results line: a file (or one page of it), what was read from it, and when."""

    filename: str
    prediction: Prediction
    sha256: str = ""
    processed_at: str = ""
    page: int | None = None  # 1-based page of a PDF or multi-page TIFF; empty for a single image

    def cells(self, *, neutralise_formulas: bool) -> list[str]:
        """The row as CSV cells in COLUMNS order."""
        p = self.prediction
        filename = neutralise(self.filename) if neutralise_formulas else self.filename
        return [
            filename,
            "" if p.digit is None else str(p.digit),
            "" if p.confidence is None else f"{p.confidence:.4f}",
            p.status,
            self.processed_at or utc_now(),
            _one_line(p.detail),
            self.sha256,
            "" if self.page is None else str(self.page),
        ]


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def neutralise(cell: str) -> str:
    """Prefix a cell that a spreadsheet would execute, so it is shown as text."""
    return FORMULA_GUARD + cell if cell.startswith(FORMULA_PREFIXES) else cell


def unneutralise(cell: str) -> str:
    """Undo `neutralise`, to compare a CSV cell with a real file name."""
    if cell.startswith(FORMULA_GUARD) and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


def _one_line(text: str) -> str:
    """Details are for people reading a spreadsheet: keep them on one line."""
    return " ".join(text.split())


def format_rows(rows: Iterable[ResultRow], *, header: bool, neutralise_formulas: bool = True) -> str:
    """Render rows (and optionally the header) as CSV text with CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; also makes csv quote names holding \r
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells(neutralise_formulas=neutralise_formulas))
    return buffer.getvalue()


def write_to_stdout(rows: list[ResultRow], *, header: bool, neutralise_formulas: bool = True) -> None:
    """Print rows as CSV on standard output (for `classify` without --results)."""
    sys.stdout.write(format_rows(rows, header=header, neutralise_formulas=neutralise_formulas))
    sys.stdout.flush()


def ledger_key(sha256: str, page: int | None) -> tuple[str, str]:
    """What the ledger records per filename: the content hash and the page ("" for a single image)."""
    return sha256, "" if page is None else str(page)


def read_ledger(path: Path) -> dict[str, set[tuple[str, str]]]:
    """Map each recorded filename to the (content hash, page) pairs already classified for it.

    Rows written before the page column existed count as single images. Read
    with the csv module, row by row: pandas reads a large file faster, but it
    is read once at start-up, and pandas would stay in the service's memory
    (about 40 MB) for good.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    done: dict[str, set[tuple[str, str]]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = csv.reader(file)
            header = next(rows, [])
            if not {"filename", "sha256"} <= set(header):
                raise ValueError("it has no filename and sha256 columns")
            name_at, digest_at = header.index("filename"), header.index("sha256")
            page_at = header.index("page") if "page" in header else None
            shortest = max(name_at, digest_at) + 1
            for row in rows:
                if len(row) < shortest:
                    continue  # a blank line, or a row cut short (the results file repairs a torn last row)
                page = row[page_at] if page_at is not None and page_at < len(row) else ""
                done.setdefault(unneutralise(row[name_at]), set()).add((row[digest_at], page))
    except (ValueError, OSError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise ResultsError(
            f"{path} is not a digitwatch results file ({exc}); move it aside or pass another --results"
        ) from exc
    return done
