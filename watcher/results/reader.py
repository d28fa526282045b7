"""Read a results CSV back as typed records, all at once or following it as it grows.

The service and `classify` write the file (`watcher.results.csv_file`); `export`
and `review` read it here. Files written before the page column (0.2 and
earlier) read as single images.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from watcher.results.schema import COLUMNS, LEGACY_COLUMNS, ResultRow
from watcher.results.store import ResultsError

READ_CHUNK = 4 * 1024 * 1024  # bytes read at a time: progress is reported per chunk


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

    def read_new(self, progress: Callable[[int, int], None] | None = None) -> tuple[list[ResultRow], bool]:
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
        rows = [ResultRow.from_cells(cells) for cells in self._cells(stat.st_size, progress)]
        return rows, restarted and read_before

    def cells_new(self) -> Iterator[list[str]]:
        """The cells of each whole row added since the last call: cheaper than rows, for the ledger."""
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return iter(())
        except OSError as exc:
            raise ResultsError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        return self._cells(size, None)

    def _cells(self, size: int, progress: Callable[[int, int], None] | None) -> Iterator[list[str]]:
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

    def _parse(self, data: bytes) -> Iterator[list[str]]:
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
            # A blank line or a torn row is no row. Rows written before the page column keep their
            # seven cells under the newer header (the header is upgraded in place, the rows are not).
            if len(row) in (len(COLUMNS), len(LEGACY_COLUMNS)) and len(row) <= len(self._columns):
                yield row


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


def read_results(path: Path, progress: Callable[[int, int], None] | None = None) -> list[ResultRow]:
    """Every row of a results file, in the order written; ResultsError when it is missing or not ours."""
    if not path.is_file():
        raise ResultsError(f"{path} does not exist; pass the results CSV with --results")
    records, _ = ResultsReader(path).read_new(progress)
    return records


class CsvSource:
    """A results CSV as a read-only `ResultSource`: read without the writer's lock, so a running service
    may go on appending while `review`, `report` or `export` read it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[ResultRow]:
        """Every row of the file, in the order written."""
        return read_results(self.path)
