"""The corrections file: what people (or scripts) say a file really holds, beside the results CSV.

The results CSV is never edited; a correction is a row appended here, and
the last correction of a file (and page) wins. Its columns are fixed so a
script can write the file too:

    filename,page,sha256,predicted,label,corrected_at,reviewer

`label` is a digit 0-9 or `not_a_digit`; `predicted` is the model's digit
(empty when it gave none); `page` is empty for a single image; `sha256` ties
the correction to the file's content, so a file changed since is not
corrected by it (an empty `sha256` corrects whatever the file holds).
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watcher.clock import utc_now
from watcher.protocol import NOT_A_DIGIT
from watcher.results.schema import neutralise, unneutralise

CORRECTION_COLUMNS = ["filename", "page", "sha256", "predicted", "label", "corrected_at", "reviewer"]
LABELS = frozenset([*(str(digit) for digit in range(10)), NOT_A_DIGIT])


class CorrectionsError(Exception):
    """The corrections file cannot be read or written, or a correction is not valid."""


@dataclass(frozen=True)
class Correction:
    """One file's (or page's) right answer, as a person gave it."""

    filename: str
    label: str  # "0"-"9" or NOT_A_DIGIT
    page: int | None = None
    sha256: str = ""
    predicted: int | None = None
    corrected_at: str = field(default_factory=utc_now)
    reviewer: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise CorrectionsError(f"label {self.label!r} is not a digit 0-9 or {NOT_A_DIGIT}")

    @property
    def key(self) -> tuple[str, int | None]:
        """The file and page it corrects."""
        return self.filename, self.page

    @property
    def digit(self) -> int | None:
        """The digit it gives, or None for "not a digit"."""
        return None if self.label == NOT_A_DIGIT else int(self.label)

    def applies_to(self, sha256: str) -> bool:
        """Whether it corrects the file's content with this hash (an empty hash in it corrects any)."""
        return not self.sha256 or self.sha256 == sha256

    def cells(self) -> list[str]:
        """The row as CSV cells in CORRECTION_COLUMNS order, a file name a spreadsheet would run guarded."""
        return [
            neutralise(self.filename),
            "" if self.page is None else str(self.page),
            self.sha256,
            "" if self.predicted is None else str(self.predicted),
            self.label,
            self.corrected_at,
            " ".join(self.reviewer.split()),
        ]


def read_corrections(path: Path) -> list[Correction]:
    """Every correction in the file, in the order written; none when it does not exist yet."""
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = csv.reader(file)
            header = next(rows, None)
            if header is None:
                return []
            if header != CORRECTION_COLUMNS:
                raise CorrectionsError(
                    f"{path} is not a corrections file: its header must be {','.join(CORRECTION_COLUMNS)}"
                )
            return [_correction(row, path, line) for line, row in enumerate(rows, start=2) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CorrectionsError(f"cannot read {path}: {exc}") from exc


def _correction(row: list[str], path: Path, line: int) -> Correction:
    if len(row) != len(CORRECTION_COLUMNS):
        raise CorrectionsError(f"{path}, line {line}: {len(row)} cells, where a correction has 7")
    filename, page, sha256, predicted, label, corrected_at, reviewer = row
    if not filename or not (page == "" or page.isdigit()) or not (predicted == "" or predicted.isdigit()):
        raise CorrectionsError(f"{path}, line {line}: needs a filename, and page and predicted empty or whole numbers")
    try:
        return Correction(
            filename=unneutralise(filename),
            label=label,
            page=int(page) if page else None,
            sha256=sha256,
            predicted=int(predicted) if predicted else None,
            corrected_at=corrected_at,
            reviewer=reviewer,
        )
    except CorrectionsError as exc:
        raise CorrectionsError(f"{path}, line {line}: {exc}") from exc


def corrections_by_file(corrections: Iterable[Correction]) -> dict[tuple[str, int | None], list[Correction]]:
    """Each file's (and page's) corrections, oldest first: the last that applies to its content wins."""
    by_key: dict[tuple[str, int | None], list[Correction]] = {}
    for correction in corrections:
        by_key.setdefault(correction.key, []).append(correction)
    return by_key


def winning(corrections: list[Correction], sha256: str) -> Correction | None:
    """The last of a file's corrections that applies to its content with this hash."""
    return next((c for c in reversed(corrections) if c.applies_to(sha256)), None)


@dataclass(frozen=True)
class Appended:
    """Where one append put its bytes, so that it can be taken back while nothing followed it."""

    start: int
    end: int
    identity: tuple[int, int]  # the file's device and inode


class CorrectionsFile:
    """Appends corrections durably, header first in a new file; undoes its own last append."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, correction: Correction) -> Appended:
        """Append one correction and make it durable (write and fsync) before returning."""
        line = _csv_line(correction.cells())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise CorrectionsError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two reviewers on one file append one after the other
            self._check_header(fd)
            start = os.fstat(fd).st_size
            if start == 0:
                line = _csv_line(CORRECTION_COLUMNS) + line
            elif os.pread(fd, 1, start - 1) != b"\n":
                line = "\r\n" + line  # a script's last row without its line end: ours goes on a line of its own
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
            stat = os.fstat(fd)
            return Appended(start=start, end=stat.st_size, identity=(stat.st_dev, stat.st_ino))
        except OSError as exc:
            raise CorrectionsError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def undo(self, appended: Appended) -> bool:
        """Cut an append off again; False (nothing cut) when the file changed after it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            stat = os.fstat(fd)
            if (stat.st_dev, stat.st_ino) != appended.identity or stat.st_size != appended.end:
                return False  # a script or another reviewer appended since: their row stays
            os.ftruncate(fd, appended.start)
            os.fsync(fd)
            return True
        except OSError as exc:
            raise CorrectionsError(f"cannot undo in {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def _check_header(self, fd: int) -> None:
        """Refuse to append to a file that is not a corrections file (it is not ours to touch)."""
        head = os.pread(fd, 4096, 0)
        if head and not head.startswith(",".join(CORRECTION_COLUMNS).encode()):
            raise CorrectionsError(
                f"{self.path} is not a corrections file (its first line is not {','.join(CORRECTION_COLUMNS)}); "
                "pass another --corrections"
            )


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def find_file(name: str, folders: tuple[Path, ...]) -> Path | None:
    """The file a results row names, in the first folder holding it; never a path outside the folders.

    Names in the results are relative to the inbox; one that climbs out of a
    folder (`../x`) or is absolute is looked for nowhere.
    """
    for folder in folders:
        base = os.path.realpath(folder)
        path = os.path.realpath(os.path.join(base, name))
        if os.path.commonpath([base, path]) == base and path != base and os.path.isfile(path):
            return Path(path)
    return None
