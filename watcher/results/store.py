"""Where results rows live, as protocols: a source rows are read from, and a store rows are appended to.

The results CSV (`csv_file.CsvStore`) is the store every command writes; a
Spark job's Parquet output (`parquet.ParquetOutput`) is a read-only source.
A second store (a database table, say) implements `ResultStore` and the
service, `classify` and the pages need no change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from watcher.results.schema import ResultRow


class ResultsError(Exception):
    """The results cannot be read or written."""


class ResultSource(Protocol):
    """Rows that were recorded, to read back (for `review`, `report` and `export`)."""

    def read(self) -> list[ResultRow]:
        """Every row, in the order recorded; ResultsError when the source is missing or not ours."""
        ...


class ResultStore(ResultSource, Protocol):
    """Where new rows go; each append is durable before it returns, or raises ResultsError and keeps nothing."""

    def append(self, rows: Sequence[ResultRow]) -> None:
        """Record rows durably, in order."""
        ...

    def ledger(self) -> Ledger:
        """What is already recorded, so nothing is read or counted twice."""
        ...

    def close(self) -> None:
        """Let go of the store; rows appended are already durable."""
        ...


class Ledger:
    """What has a row: for each file name, the (content hash, page) pairs recorded."""

    def __init__(self, rows: Iterable[ResultRow] = ()) -> None:
        self._done: dict[str, set[tuple[str, int | None]]] = {}
        for row in rows:
            self.add(row.filename, row.sha256, row.page)

    def add(self, filename: str, sha256: str, page: int | None) -> None:
        """Note that this content (and page) of the file has its row."""
        self._done.setdefault(filename, set()).add((sha256, page))

    def has(self, filename: str, sha256: str, page: int | None) -> bool:
        """True when this content (and page) of the file already has a row."""
        return (sha256, page) in self._done.get(filename, ())

    def recorded(self, filename: str) -> set[tuple[str, int | None]]:
        """The (content hash, page) pairs recorded for a file name."""
        return set(self._done.get(filename, ()))

    def __len__(self) -> int:
        """How many file names have a row."""
        return len(self._done)
