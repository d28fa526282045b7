"""The results file on disk: never touch a file that is not ours, never leave half a row, follow rotation."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from watcher.protocol import Prediction
from watcher.results.csv_file import CsvStore, repair_torn_row
from watcher.results.schema import ResultRow
from watcher.results.store import ResultsError


def ok(digit: int = 3) -> Prediction:
    return Prediction(status="ok", digit=digit, confidence=0.99)


def rows(*names: str) -> list[ResultRow]:
    return [ResultRow.of(name, ok(), sha256="0" * 64) for name in names]


@pytest.mark.parametrize(
    "content",
    [
        b"id,name\n1,alice\n2,bob\n",  # the repro: a user's CSV whose last line is 'partial' to our parser
        b"id,name\n1,alice\n2,bo",  # no final newline
        b"",  # an empty file is ours to start
    ],
)
def test_a_file_that_is_not_ours_is_refused_byte_identical(tmp_path, content):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    if content:
        with pytest.raises(ResultsError, match="not a digitwatch results file"):
            CsvStore(path)
        assert path.read_bytes() == content
        assert not list(tmp_path.glob("f.csv.torn-*"))
    else:
        with CsvStore(path) as results:
            results.append(rows("a.png"))
        assert list(pd.read_csv(path)["filename"]) == ["a.png"]


def test_classify_refuses_a_csv_that_is_not_ours(digitwatch_exe, tmp_path, digit_files):
    ((image, _),) = digit_files(1)
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,name\n1,alice\n2,bob\n")
    done = subprocess.run(
        [digitwatch_exe, "classify", str(image), "--results", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "not a digitwatch results file" in done.stderr
    assert path.read_bytes() == b"id,name\n1,alice\n2,bob\n"


def test_a_long_tail_that_is_not_a_row_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    with CsvStore(path) as results:
        results.append(rows("a.png"))
    garbage = path.read_bytes() + b"x" * 70_000  # far longer than any row: not a torn row of ours
    path.write_bytes(garbage)
    with pytest.raises(ResultsError, match="does not end in whole digitwatch rows"):
        repair_torn_row(path)
    assert path.read_bytes() == garbage


FULL_DISK_CHILD = """
import resource, sys
from pathlib import Path
from watcher.protocol import Prediction
from watcher.results.schema import ResultRow
from watcher.results.store import ResultsError
from watcher.results.csv_file import CsvStore
path = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
with CsvStore(path) as results:
    written = 0
    try:
        for i in range(1000):
            results.append([ResultRow.of(f"file_{i:04d}.png", Prediction(status="ok", digit=1, confidence=0.9),
                                      sha256="0" * 64) for _ in range(3)])
            written += 3
    except ResultsError as exc:
        print(written, exc)
"""


def test_a_full_disk_leaves_no_partial_row(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the append that does not fit is rolled back whole."""
    path = tmp_path / "r.csv"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(path), "2000"], capture_output=True, text=True, timeout=60
    )
    written, _, message = done.stdout.partition(" ")
    assert "cannot write to" in message and "File too large" in message, done.stdout + done.stderr
    data = path.read_bytes()
    assert data.endswith(b"\r\n") and len(data) <= 2000
    table = pd.read_csv(path, dtype=str)
    assert len(table) == int(written) > 0  # every row that was reported written is there, and no more


def test_rotation_by_rename_delete_and_truncate_starts_a_new_file_with_header(tmp_path, caplog):
    path = tmp_path / "r.csv"
    with CsvStore(path) as results:
        results.append(rows("a.png"))
        path.rename(tmp_path / "r.csv.1")  # logrotate's default
        results.append(rows("b.png"))
        path.unlink()  # deleted outright
        results.append(rows("c.png"))
        path.write_bytes(b"")  # copytruncate
        results.append(rows("d.png"))
    assert list(pd.read_csv(tmp_path / "r.csv.1")["filename"]) == ["a.png"]
    assert list(pd.read_csv(path)["filename"]) == ["d.png"]
    assert caplog.text.count("rotation?") == 3


def test_rotation_onto_a_file_that_is_not_ours_is_refused_untouched(tmp_path):
    path = tmp_path / "r.csv"
    with CsvStore(path) as results:
        results.append(rows("a.png"))
        path.rename(tmp_path / "r.csv.1")
        path.write_bytes(b"name,amount\nalice,10\n")  # someone else's file now stands at the path
        with pytest.raises(ResultsError, match="not a digitwatch results file"):
            results.append(rows("b.png"))
    assert path.read_bytes() == b"name,amount\nalice,10\n"


def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)  # opening a pipe for writing would block until a reader came
    with pytest.raises(ResultsError, match="not a regular file"):
        CsvStore(fifo)


def test_a_second_writer_is_refused_while_the_first_holds_the_file(tmp_path):
    path = tmp_path / "r.csv"
    with CsvStore(path) as first:
        first.append(rows("a.png"))
        child = subprocess.run(
            [sys.executable, "-c", SECOND_WRITER, str(path)], capture_output=True, text=True, timeout=60
        )
        assert "being written by another digitwatch process" in child.stdout, child.stdout + child.stderr
        first.append(rows("b.png"))
    assert list(pd.read_csv(path)["filename"]) == ["a.png", "b.png"]


SECOND_WRITER = """
import sys
from pathlib import Path
from watcher.results.store import ResultsError
from watcher.results.csv_file import CsvStore
try:
    CsvStore(Path(sys.argv[1]))
except ResultsError as exc:
    print(exc)
"""


LEGACY_FILE = (
    b"filename,digit,confidence,status,processed_at,detail,sha256\r\n"
    b"a.png,3,0.9900,ok,2026-11-30T10:00:00.000Z,,h1\r\n"
    b"b.png,,,error,2026-11-30T10:00:01.000Z,not an image Pillow can identify,h2\r\n"
)


def test_a_file_from_before_the_page_column_gets_the_new_header_and_keeps_its_rows(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(LEGACY_FILE)
    path.chmod(0o640)
    with CsvStore(path) as results:
        results.append([ResultRow.of("c.pdf", ok(), sha256="h3", page=2)])
    data = path.read_bytes()
    header, old_rows = LEGACY_FILE.split(b"\r\n", 1)
    assert data.startswith(header + b",page\r\n" + old_rows)  # old rows byte for byte
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table["filename"]) == ["a.png", "b.png", "c.pdf"]
    assert list(table["page"]) == ["", "", "2"]
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert not [p.name for p in tmp_path.iterdir() if p.name != "r.csv"]  # no temporary file left
    with CsvStore(path) as results:
        ledger = results.ledger()
    assert [ledger.recorded(name) for name in ("a.png", "b.png", "c.pdf")] == [
        {("h1", None)},
        {("h2", None)},
        {("h3", 2)},
    ]
    # The rows from before the page column read back too, under the new header.
    assert [(row.filename, row.page) for row in results.read()] == [("a.png", None), ("b.png", None), ("c.pdf", 2)]


def test_an_upgraded_file_whose_last_row_is_old_is_not_cut_as_torn(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(LEGACY_FILE)
    CsvStore(path).close()  # upgrades, appends nothing
    CsvStore(path).close()  # opens again: the last row has one field fewer, and is whole
    assert path.read_bytes().endswith(LEGACY_FILE.split(b"\r\n", 1)[1])
    assert not list(tmp_path.glob("r.csv.torn-*"))
