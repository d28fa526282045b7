"""Rows as CSV text (RFC 4180, CRLF line ends), and the write-only store `classify` uses without --results."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Sequence

from watcher.results.schema import COLUMNS, ResultRow
from watcher.results.store import Ledger, ResultsError


def format_rows(rows: Iterable[ResultRow], *, header: bool, neutralise_formulas: bool = True) -> str:
    """Render rows (and optionally the header) as CSV text with CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; also makes csv quote names holding \r
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells(neutralise_formulas=neutralise_formulas))
    return buffer.getvalue()


class StdoutStore:
    """Rows printed on standard output as CSV, header first (for `classify` without --results).

    It remembers nothing: its ledger is empty, and it cannot be read back.
    """

    def __init__(self, *, neutralise_formulas: bool = True) -> None:
        self.neutralise_formulas = neutralise_formulas
        self._header_written = False

    def append(self, rows: Sequence[ResultRow]) -> None:
        """Print the rows (the header before the first)."""
        self.write_header()
        sys.stdout.write(format_rows(rows, header=False, neutralise_formulas=self.neutralise_formulas))
        sys.stdout.flush()

    def write_header(self) -> None:
        """Print the header once, so even a run with no rows prints a valid CSV."""
        if not self._header_written:
            sys.stdout.write(format_rows([], header=True))
            self._header_written = True

    def ledger(self) -> Ledger:
        """Nothing is remembered on standard output."""
        return Ledger()

    def read(self) -> list[ResultRow]:
        """Standard output cannot be read back."""
        raise ResultsError("rows printed on standard output cannot be read back; pass --results")

    def close(self) -> None:
        """Print the header if no row came, so the output is a valid CSV."""
        self.write_header()
        sys.stdout.flush()
