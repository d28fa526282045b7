"""The results CSV on disk: ours alone, appended durably, repaired and followed through rotation.

`CsvStore` is the `ResultStore` every command writes through, so one set of
rules guards the user's data:
- a file that does not start with the digitwatch header is never touched;
- a row torn by a crash is cut on open, and its bytes are kept in a side file;
- a failed append (a full disk) is rolled back, so no partial row stays;
- when the file is renamed away or deleted while open (log rotation), later
  rows go to a new file at the same path, header first.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from watcher.protocol import Decision
from watcher.results.csv_text import format_rows
from watcher.results.reader import ResultsReader, read_results
from watcher.results.schema import COLUMNS, LEGACY_COLUMNS, ResultRow, unneutralise
from watcher.results.store import Ledger, ResultsError

log = logging.getLogger(__name__)

HEAD_BYTES = 4096  # enough to hold the header line
MAX_TORN_BYTES = 64 * 1024  # a torn row is at most one row; more than this is not a row of ours


def header_bytes() -> bytes:
    """The header line as written, without its line end."""
    return format_rows([], header=True).encode("utf-8").rstrip(b"\r\n")


def legacy_header_bytes() -> bytes:
    """The header line of files written before the page column (digitwatch 0.2 and earlier)."""
    return ",".join(LEGACY_COLUMNS).encode("utf-8")


def check_results_header(path: Path) -> None:
    """Refuse a file that is not a digitwatch results CSV, before anything repairs or appends to it.

    A header cut short by a crash on the very first write is accepted: the
    repair on open cuts it and a whole header is written again.
    """
    if path.exists() and not path.is_file():  # a pipe would block the open, a folder cannot be appended to
        raise ResultsError(f"{path} is not a regular file; pass a file path as --results")
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    expected = header_bytes()
    first, newline, _ = head.partition(b"\n")
    first = first.rstrip(b"\r")
    if first in (expected, legacy_header_bytes()) or (not newline and expected.startswith(first)):
        return
    raise ResultsError(
        f"{path} is not a digitwatch results file (its first line is not the digitwatch header); "
        "it was left untouched: move it aside or pass another --results"
    )


def repair_torn_row(path: Path) -> Path | None:
    """Cut a half-written last row left by a crash, keeping the cut bytes in a side file.

    Returns the side file's path, or None when the file was whole. Only a
    digitwatch file (checked first) is repaired, and only its last row.
    """
    check_results_header(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    keep = _complete_prefix_length(data)
    if keep == len(data):
        return None
    if keep < 0:
        raise ResultsError(
            f"{path} does not end in whole digitwatch rows within its last {MAX_TORN_BYTES // 1024} KiB; it was left "
            "untouched: move it aside or pass another --results"
        )
    torn = data[keep:]
    side = path.with_name(f"{path.name}.torn-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
    _write_durably(side, torn)
    with open(path, "r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    log.warning(
        "results file %s ended in a torn row (%d bytes, left by a crash); cut it and kept the bytes in %s",
        path,
        len(torn),
        side,
    )
    return side


def add_page_column(path: Path) -> bool:
    """Give a results file written before the page column the current header; True when it did.

    The rows stay byte for byte as they were: a row with one field fewer
    reads as an empty page in pandas and spreadsheets. The new file replaces
    the old one in one rename, so a crash leaves one or the other, whole.
    """
    with open(path, "rb") as handle:
        first = handle.readline()
        if first.rstrip(b"\r\n") != legacy_header_bytes():
            return False
        upgraded = path.with_name(f".{path.name}.upgrading")
        try:
            with open(upgraded, "wb") as out:
                out.write(header_bytes() + b"\r\n")
                while chunk := handle.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(upgraded, os.stat(path).st_mode & 0o7777)
            os.replace(upgraded, path)
        except OSError as exc:
            upgraded.unlink(missing_ok=True)
            raise ResultsError(
                f"cannot add the page column to {path}: {exc.strerror or exc}; it was left as it was"
            ) from exc
    log.warning("results file %s was written before the page column; added it to the header, rows unchanged", path)
    return True


def _lock(fd: int, path: Path) -> None:
    """Take the file for this process alone, or raise ResultsError when another process has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise ResultsError(
            f"{path} is being written by another digitwatch process (a running service, or a classify "
            "writing to it); wait for it to finish, or pass another --results"
        ) from exc
    except OSError:  # a file system without locks (some network shares): go on without one
        log.debug("cannot lock %s; going on without a lock", path, exc_info=True)


def _write_durably(path: Path, data: bytes) -> None:
    try:
        with open(path, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ResultsError(
            f"cannot keep the torn row of the results file in {path}: {exc.strerror or exc}; nothing was cut"
        ) from exc


def _complete_prefix_length(data: bytes) -> int:
    """Length of the longest prefix that ends a line and parses into whole rows, looking back at most
    MAX_TORN_BYTES (a torn row is one row: anything longer is no crash of ours); -1 when there is none."""
    end = len(data)
    floor = max(0, len(data) - MAX_TORN_BYTES)
    while end >= floor and end > 0:
        if data[end - 1 : end] == b"\n" and _parses_whole(data[:end]):
            return end
        end = data.rfind(b"\n", 0, end - 1) + 1 if end > 1 else 0
    return 0 if floor == 0 else -1


def _parses_whole(data: bytes) -> bool:
    """True when data decodes and its last record has the full column count."""
    try:
        text = data.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return False
    # Rows written before the page column have one field fewer, and stay as they were.
    return all(len(row) in (len(COLUMNS), len(LEGACY_COLUMNS)) for row in rows[-1:])


class CsvStore:
    """The results CSV as a `ResultStore`: checked, repaired on open, each append durable or rolled back."""

    def __init__(self, path: Path, *, neutralise_formulas: bool = True) -> None:
        self.path = path
        self.neutralise_formulas = neutralise_formulas
        self._fd = -1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from exc
        self._fd = self._open()

    def _open(self) -> int:
        """Open (or create) the file, lock it as ours alone, check and repair it, give a new one its header.

        The lock keeps a second writer (another service, `classify --results`)
        from appending between our size check and a rollback, or from seeing
        our append in progress as a torn row.
        """
        check_results_header(self.path)  # before anything is opened: a FIFO would block, a foreign file is refused
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise ResultsError(f"cannot open {self.path} for appending: {exc.strerror or exc}") from exc
        try:
            _lock(fd, self.path)
            repair_torn_row(self.path)  # checks the header again, now that the file is ours alone
            if os.fstat(fd).st_size == 0:
                self._write_to(fd, format_rows([], header=True).encode("utf-8"))
            elif add_page_column(self.path):
                os.close(fd)  # the upgraded file is a new one at the same path
                return self._open()
        except BaseException:
            os.close(fd)
            raise
        return fd

    def ledger(self) -> Ledger:
        """What the file records, read once the file is open (and so repaired).

        Read with the csv module, row by row: pandas reads a large file faster,
        but it is read once at start-up, and pandas would stay in the service's
        memory (about 40 MB) for good.
        """
        ledger = Ledger()
        for cells in ResultsReader(self.path).cells_new():
            page = cells[7] if len(cells) > 7 else ""
            ledger.add(unneutralise(cells[0]), cells[6], int(page) if page.isdigit() else None)
        return ledger

    def read(self) -> list[ResultRow]:
        """Every row in the file, in the order written."""
        return read_results(self.path)

    def append(self, rows: Sequence[ResultRow]) -> None:
        """Append rows and make them durable (write and fsync) before returning.

        On failure (a full disk, a file-size limit, an I/O error) the file is cut
        back to where it was, so no partial row stays, and ResultsError is raised.
        """
        if not rows:
            return
        self._follow_rotation()
        text = format_rows(rows, header=False, neutralise_formulas=self.neutralise_formulas)
        self._write_to(self._fd, text.encode("utf-8"))

    def _follow_rotation(self) -> None:
        """Reopen at the configured path when the open file was renamed, deleted or emptied.

        A file someone put at the path meanwhile is checked like any other: one
        that is not ours is refused (ResultsError), never appended to.
        """
        try:
            try:
                on_disk: os.stat_result | None = os.stat(self.path)
            except FileNotFoundError:
                on_disk = None
            held = os.fstat(self._fd)
        except OSError as exc:  # a share gone stale, a folder made unreadable
            raise ResultsError(f"cannot check {self.path}: {exc.strerror or exc}") from exc
        if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino) and held.st_size > 0:
            return
        how = "was emptied" if on_disk is not None and held.st_size == 0 else "was renamed or deleted"
        old, self._fd = self._fd, -1
        os.close(old)
        self._fd = self._open()
        log.warning(
            "results file %s %s (rotation?); writing further rows to a new file there, header first",
            self.path,
            how,
            extra={"decision": Decision.ROTATED},
        )

    def _write_to(self, fd: int, data: bytes) -> None:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            self._roll_back(fd, start)
            raise ResultsError(
                f"cannot write to {self.path}: {exc.strerror or exc}; the rows not written are "
                "written when the service runs again with space"
            ) from exc

    def _roll_back(self, fd: int, size: int) -> None:
        """Cut a partly written append, so no reader ever sees half a row."""
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:
            log.error("could not cut the partial row from %s; it is cut when the service starts again", self.path)

    def close(self) -> None:
        """Close the file; rows are already durable."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> CsvStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
