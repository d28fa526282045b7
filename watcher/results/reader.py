"""Read a results CSV back as typed records, all at once or following it as it grows.

The service and `classify` write the file (`watcher.results.csv_file`); `export`
and `review` read it here. Files written before the page column (0.2 and
earlier) read as single images.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watcher.protocol import Status
from watcher.results.rows import COLUMNS, LEGACY_COLUMNS, ResultsError, unneutralise

READ_CHUNK = 4 * 1024 * 1024  # bytes read at a time: progress is reported per chunk


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One results row as written: a file (or one page of it) and what the model read there."""

    filename: str  # the real file name: a formula guard the CSV added is taken off
    digit: int | None
    confidence: float | None
    status: Status
    processed_at: str
    detail: str
    sha256: str
    page: int | None

    @property
    def key(self) -> tuple[str, int | None]:
        """What a final table has one row for: the file and its page."""
        return self.filename, self.page

    def cells(self) -> list[str]:
        """The row's cells in COLUMNS order, as the results file holds them (the name unguarded)."""
        return [
            self.filename,
            "" if self.digit is None else str(self.digit),
            "" if self.confidence is None else f"{self.confidence:.4f}",
            str(self.status),
            self.processed_at,
            self.detail,
            self.sha256,
            "" if self.page is None else str(self.page),
        ]


class ResultsReader:
    """Reads a results file from where it last stopped: whole lines only, so a row being written waits.

    `read_new()` returns the rows appended since the last call. A file that
    was replaced or cut shorter (rotated) is read again from its start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._columns: list[str] = []

    def read_new(self, progress: Callable[[int, int], None] | None = None) -> tuple[list[ResultRecord], bool]:
        """Rows added since the last call, and whether the file was read again from its start.

        `progress(bytes_read, bytes_total)` is called after each chunk. Raises
        ResultsError when the file is not a digitwatch results file.
        """
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return [], False
        except OSError as exc:
            raise ResultsError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        read_before = self._identity is not None
        restarted = (stat.st_dev, stat.st_ino) != self._identity or stat.st_size < self._offset
        if restarted:
            self._offset, self._identity, self._columns = 0, (stat.st_dev, stat.st_ino), []
        return list(self._records(stat.st_size, progress)), restarted and read_before

    def _records(self, size: int, progress: Callable[[int, int], None] | None) -> Iterator[ResultRecord]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                pending = b""
                while self._offset + len(pending) < size:
                    chunk = handle.read(min(READ_CHUNK, size - self._offset - len(pending)))
                    if not chunk:
                        break
                    data = pending + chunk
                    end = _rows_end(data)
                    pending = data[end:]
                    yield from self._parse(data[:end])
                    self._offset += end
                    if progress is not None:
                        progress(self._offset, size)
        except OSError as exc:
            raise ResultsError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def _parse(self, data: bytes) -> Iterator[ResultRecord]:
        try:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ResultsError(f"{self.path} is not a digitwatch results file ({exc})") from exc
        for row in rows:
            if not self._columns:
                if row not in (COLUMNS, LEGACY_COLUMNS):
                    raise ResultsError(
                        f"{self.path} is not a digitwatch results file: its header is {','.join(row)[:120]!r}"
                    )
                self._columns = row
                continue
            if len(row) == len(self._columns):  # a blank line or a torn row is no record
                yield _record(row)


def _rows_end(data: bytes) -> int:
    """Where the last whole row in `data` (which starts at a row) ends: a line end outside quotes.

    A file name may hold a line break, quoted; CSV doubles quotes inside a
    field, so a line end is outside every field when an even number of quotes
    comes before it.
    """
    end = data.rfind(b"\n") + 1
    while end > 0 and data.count(b'"', 0, end) % 2:
        end = data.rfind(b"\n", 0, end - 1) + 1
    return end


def _record(row: list[str]) -> ResultRecord:
    """A record from cells in COLUMNS (or LEGACY_COLUMNS) order."""
    filename, digit, confidence, status, processed_at, detail, sha256 = row[:7]
    page = row[7] if len(row) > 7 else ""
    try:
        kind = Status(status)
    except ValueError:
        kind = Status.ERROR  # a status this version does not know: shown to people as needing a look
    return ResultRecord(
        filename=unneutralise(filename),
        digit=int(digit) if digit.isdigit() else None,
        confidence=_number(confidence),
        status=kind,
        processed_at=processed_at,
        detail=sys.intern(detail),  # a few reasons repeat over many rows: one copy of each
        sha256=sha256,
        page=int(page) if page.isdigit() else None,
    )


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_results(path: Path, progress: Callable[[int, int], None] | None = None) -> list[ResultRecord]:
    """Every row of a results file, in the order written; ResultsError when it is missing or not ours."""
    if not path.is_file():
        raise ResultsError(f"{path} does not exist; pass the results CSV with --results")
    records, _ = ResultsReader(path).read_new(progress)
    return records
