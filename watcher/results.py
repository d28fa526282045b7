"""The results CSV: one row per file, appended durably; also the ledger of what is done."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, TextIO

from watcher.classifier import Prediction

log = logging.getLogger(__name__)

COLUMNS = ["filename", "digit", "confidence", "status", "processed_at", "detail", "sha256"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas
FORMULA_GUARD = "'"  # a leading apostrophe makes spreadsheets show the cell as text


class ResultsError(Exception):
    """The results file cannot be read or written."""


@dataclass(frozen=True)
class ResultRow:
    """One results line: a file, what was read from it, and when."""

    filename: str
    prediction: Prediction
    sha256: str = ""
    processed_at: str = ""

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
        ]


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class ResultsFile:
    """An append-only results CSV, repaired on open if a crash cut its last line."""

    def __init__(self, path: Path, *, neutralise_formulas: bool = True) -> None:
        self.path = path
        self.neutralise_formulas = neutralise_formulas
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_partial_last_line(self.path)
        needs_header = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self._handle: TextIO = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise ResultsError(f"cannot open {self.path} for appending: {exc}") from exc
        if needs_header:
            self._write(format_rows([], header=True))

    def append(self, rows: list[ResultRow]) -> None:
        """Append rows and make them durable (flush and fsync) before returning."""
        if rows:
            self._write(format_rows(rows, header=False, neutralise_formulas=self.neutralise_formulas))

    def _write(self, text: str) -> None:
        try:
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise ResultsError(f"cannot write to {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the file; rows are already durable."""
        self._handle.close()

    def __enter__(self) -> "ResultsFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_to_stdout(rows: list[ResultRow], *, header: bool, neutralise_formulas: bool = True) -> None:
    """Print rows as CSV on standard output (for `classify` without --results)."""
    sys.stdout.write(format_rows(rows, header=header, neutralise_formulas=neutralise_formulas))
    sys.stdout.flush()


def repair_partial_last_line(path: Path) -> bool:
    """Cut a half-written last row left by a crash; return True if something was cut.

    The file is kept up to the end of its last complete CSV record, so the
    next append starts on a fresh line and no reader ever sees a torn row.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return False
    data = path.read_bytes()
    keep = _complete_prefix_length(data)
    if keep == len(data):
        return False
    log.warning("results file %s ended in a partial row (%d bytes); removing it", path, len(data) - keep)
    with open(path, "r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _complete_prefix_length(data: bytes) -> int:
    """Length of the longest prefix that ends a line and parses into whole rows."""
    end = len(data)
    while end > 0:
        if data[end - 1 : end] == b"\n" and _parses_whole(data[:end]):
            return end
        end = data.rfind(b"\n", 0, end - 1) + 1 if end > 1 else 0
    return 0


def _parses_whole(data: bytes) -> bool:
    """True when data decodes and every record has the full column count."""
    try:
        text = data.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return False
    return all(len(row) == len(COLUMNS) for row in rows[-1:])


def read_ledger(path: Path) -> dict[str, set[str]]:
    """Map each recorded filename to the content hashes already classified for it."""
    import pandas as pd

    if not path.is_file() or path.stat().st_size == 0:
        return {}
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["filename", "sha256"])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ResultsError(
            f"{path} is not a digitwatch results file ({exc}); move it aside or pass another --results"
        ) from exc
    done: dict[str, set[str]] = {}
    for filename, digest in zip(table["filename"], table["sha256"]):
        done.setdefault(unneutralise(filename), set()).add(digest)
    return done


def check_results_header(path: Path) -> None:
    """Refuse a file that is not a digitwatch results CSV, before anything repairs or appends to it.

    A header cut short by a crash on the very first write is accepted: the
    repair on open removes it and a whole header is written again.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    expected = format_rows([], header=True).encode("utf-8").rstrip(b"\r\n")
    first, newline, _ = head.partition(b"\n")
    first = first.rstrip(b"\r")
    if first == expected or (not newline and expected.startswith(first)):
        return
    raise ResultsError(
        f"{path} is not a digitwatch results file (its first line is not the digitwatch header); "
        "move it aside or pass another --results"
    )
