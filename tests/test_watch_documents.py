"""`digitwatch watch` and `classify` on documents: a row per page, once, and hostile files as error rows."""

from __future__ import annotations

import subprocess
import time

import pandas as pd
import pytest

from document_files import (
    SLOW_CALLS,
    corrupt_pdf,
    drawing_pdf,
    encrypted_pdf,
    enormous_page_pdf,
    write_heic,
    write_pdf,
    write_tiff,
)
from service_helpers import ServiceProcess, png_bytes, read_rows, wait_for_rows


@pytest.fixture
def mnist(mnist_small):
    return mnist_small["x_test"], [int(label) for label in mnist_small["y_test"]]


def run_once(exe, tmp_path, inbox, results, *extra, name="once"):
    """`watch --once` with the shipped model; returns the log after checking it exited 0."""
    args = ["--inbox", inbox, "--results", results, "--once", "--settle", 0, *extra]
    with ServiceProcess(exe, tmp_path / f"{name}.log", *args) as service:
        assert service.wait_exit() == 0, service.log()
        return service.log()


def rows_of(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[table["filename"] == name].sort_values("page")


@pytest.mark.slow  # two services, a crash between them: 4-5 s
def test_documents_get_a_row_per_page_once_and_are_moved_only_whole(digitwatch_exe, tmp_path, mnist):
    images, labels = mnist
    inbox, results, processed = tmp_path / "inbox", tmp_path / "results.csv", tmp_path / "processed"
    inbox.mkdir()
    write_pdf(inbox / "scan.pdf", [images[0], images[1], images[2]])
    write_tiff(inbox / "fax.tiff", [images[3], images[4], images[5], images[6]], compression="tiff_lzw")
    write_heic(inbox / "IMG_0001.HEIC", images[7], orientation=6)
    (inbox / "plain.png").write_bytes(png_bytes(images[8]))
    run_once(digitwatch_exe, tmp_path, inbox, results)

    table = read_rows(results)
    assert len(table) == 3 + 4 + 1 + 1
    scan, fax = rows_of(table, "scan.pdf"), rows_of(table, "fax.tiff")
    assert list(scan["page"]) == ["1", "2", "3"] and list(scan["digit"]) == [str(d) for d in labels[0:3]]
    assert list(fax["page"]) == ["1", "2", "3", "4"] and list(fax["digit"]) == [str(d) for d in labels[3:7]]
    assert scan["sha256"].nunique() == 1 and fax["sha256"].nunique() == 1
    for name, label in (("IMG_0001.HEIC", labels[7]), ("plain.png", labels[8])):
        (row,) = rows_of(table, name).itertuples()
        assert row.page == "" and row.digit == str(label) and row.status == "ok"

    # A crash lost the last two rows (pages of one document); the next start writes those two only,
    # and then moves every file, each now whole in the CSV.
    lost = table.tail(2)[["filename", "page", "digit"]].values.tolist()
    assert lost[0][1] != ""  # pages of a document
    lines = results.read_bytes().split(b"\r\n")
    results.write_bytes(b"\r\n".join(lines[:-3]) + b"\r\n")
    assert len(read_rows(results)) == 7
    log = run_once(
        digitwatch_exe, tmp_path, inbox, results, "--after", "move", "--processed-dir", processed, name="again"
    )
    again = read_rows(results)
    assert len(again) == 9
    assert again.tail(2)[["filename", "page", "digit"]].values.tolist() == lost
    assert log.count("already recorded with the same content") == 1  # one line for the batch, not one per file
    assert "skipped 3 files already recorded with the same content" in log
    assert sorted(p.name for p in processed.iterdir()) == ["IMG_0001.HEIC", "fax.tiff", "plain.png", "scan.pdf"]


def test_classify_reads_documents_and_says_what_it_skipped(digitwatch_exe, tmp_path, mnist):
    images, labels = mnist
    folder = tmp_path / "forms"
    folder.mkdir()
    write_pdf(folder / "two_pages.pdf", [images[0], images[1]])
    write_heic(folder / "IMG_0002.heic", images[2])
    (folder / "notes.txt").write_text("not a scan")
    (folder / "scan.pdf.part").write_bytes(b"%PDF-1.4 half")
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [digitwatch_exe, "classify", str(folder), "--results", str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "2 files classified, 3 rows (3 ok)" in done.stderr
    assert "skipped in the folders: 1 not an image name, 1 temporary, lock or ignored file" in done.stderr
    table = read_rows(out)
    assert list(zip(table["filename"], table["page"], table["digit"], strict=True)) == [
        ("IMG_0002.heic", "", str(labels[2])),
        ("two_pages.pdf", "1", str(labels[0])),
        ("two_pages.pdf", "2", str(labels[1])),
    ]


@pytest.mark.slow
def test_hostile_documents_become_error_rows_and_a_stop_does_not_wait_for_a_slow_page(digitwatch_exe, tmp_path, mnist):
    images, labels = mnist
    inbox, results = tmp_path / "inbox", tmp_path / "results.csv"
    inbox.mkdir()
    slow = drawing_pdf(1, SLOW_CALLS, nested=True)  # PDFium renders its page for about 20 s
    write_pdf(tmp_path / "long.pdf", [images[0]] * 3)
    args = ["--inbox", inbox, "--results", results, "--settle", 0, "--read-timeout", 3, "--max-pages", 2]
    with ServiceProcess(digitwatch_exe, tmp_path / "service.log", *args) as service:
        service.wait_ready()
        started = time.monotonic()
        (inbox / "locked.pdf").write_bytes(encrypted_pdf())
        (inbox / "broken.pdf").write_bytes(corrupt_pdf())
        (inbox / "poster.pdf").write_bytes(enormous_page_pdf())
        (tmp_path / "long.pdf").rename(inbox / "long.pdf")
        (inbox / "slow.pdf").write_bytes(slow)
        table = wait_for_rows(results, 5, timeout=30)
        took = time.monotonic() - started
        assert took < 10, f"the error rows took {took:.1f} s"
        details = {row.filename: row.detail for row in table.itertuples() if row.status == "error"}
        assert details["locked.pdf"].startswith("encrypted PDF")
        assert details["broken.pdf"].startswith("corrupt PDF")
        assert details["poster.pdf"].startswith("page too large")
        assert details["long.pdf"].startswith("document has 3 pages, more than --max-pages 2")
        assert details["slow.pdf"].startswith("reading took longer than 3 s (--read-timeout) on page 1")
        pages = dict(zip(table["filename"], table["page"], strict=True))
        assert pages == {"locked.pdf": "", "broken.pdf": "", "poster.pdf": "1", "long.pdf": "", "slow.pdf": ""}
        assert all(len(sha) == 64 for sha in table["sha256"])  # recorded: a restart reads none of them again

        # The service carries on. An event that changes nothing (a writer opening and closing it, as a late
        # event of its write would) does not have the slow file read again: the next file is read at once.
        open(inbox / "slow.pdf", "ab").close()
        started = time.monotonic()
        write_pdf(tmp_path / "good.pdf", [images[1], images[2]]).rename(inbox / "good.pdf")
        table = wait_for_rows(results, 7, timeout=30)
        assert time.monotonic() - started < 2.0
        assert rows_of(table, "good.pdf")["digit"].tolist() == [str(labels[1]), str(labels[2])]

        (inbox / "slow_too.pdf").write_bytes(slow + b"\n")  # other content: read, and stuck for 3 s
        time.sleep(0.6)  # a worker is now rendering it
        code, seconds = service.terminate()
        assert code == 0, service.log()
        assert seconds < 2.0, f"took {seconds:.1f} s to stop while a page was being read"
    assert len(read_rows(results)) == 7  # no row for the file whose reading the stop cut short
    assert service.log().count("failed slow.pdf") == 1 and "skipped slow.pdf" not in service.log(), service.log()
