"""Decode workers: the same Prepared results, in the same order, as reading the files one by one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from document_files import assert_read_right
from watcher.reading.imaging import prepare_file
from watcher.reading.pool import MIN_PARALLEL, PreparePool, is_document, prepared_in_order


def test_workers_give_the_same_results_in_order(digit_files, tmp_path):
    paths = [path for path, _ in digit_files(MIN_PARALLEL + 20)]
    (tmp_path / "junk.png").write_bytes(b"not an image")
    paths.insert(7, tmp_path / "junk.png")
    with prepared_in_order(paths, workers=2) as prepared:
        from_workers = [rows for rows in prepared]
    assert all(len(rows) == 1 for rows in from_workers)  # images: one row each
    assert from_workers[7][0].error is not None and from_workers[7][0].error.kind == "error"
    for rows, path in zip(from_workers, paths, strict=True):
        assert_read_right(rows, path)


def test_a_pool_whose_workers_cannot_start_reads_images_here_and_no_document(digit_files, tmp_path):
    paths = [path for path, _ in digit_files(40)]
    document = tmp_path / "scan.PDF"
    document.write_bytes(b"%PDF-1.4 whatever follows is never read")
    paths.insert(3, document)
    with PreparePool(2) as pool:
        pool.broken = True  # as after its workers could not start
        prepared = list(pool.prepare(paths))
    assert [rows[0].sha256 for rows in prepared] == [prepare_file(path)[0].sha256 for path in paths]
    reason = prepared[3][0].error.reason if prepared[3][0].error else ""
    assert reason.startswith("not read: decode workers cannot start, and documents are read only in one")


@pytest.mark.parametrize(
    ("name", "document"),
    [("a.pdf", True), ("a.PDF", True), ("b.tif", True), ("b.TIFF", True), ("c.heic", True), ("c.Heif", True)]
    + [("d.png", False), ("e.jpg", False), ("pdf", False), ("f.pdf.png", False), ("g.gif", False)],
)
def test_documents_are_known_by_their_name(name, document):
    assert is_document(Path(name)) is document  # these do not exist: the name alone decides


def test_documents_are_known_by_their_first_bytes_whatever_their_name(tmp_path, digit_files):
    # PDFium, libtiff and libheif read by the bytes: a PDF named .png is still a PDF to them.
    (tmp_path / "scan.png").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj")
    Image.new("L", (8, 8)).save(tmp_path / "fax.jpg", format="TIFF")
    (tmp_path / "photo.jpg").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    named = ["scan.png", "fax.jpg", "photo.jpg"]
    assert [is_document(tmp_path / name) for name in named] == [True, True, True]
    (png, _), (jpeg, _) = digit_files(2)
    Image.open(png).convert("RGB").save(jpeg.with_suffix(".jpg"))
    assert [is_document(path) for path in (png, jpeg.with_suffix(".jpg"), tmp_path / "gone.png")] == [False] * 3


def test_a_pipe_is_no_document_and_looking_at_it_does_not_block(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    answers: list[bool] = []
    looker = threading.Thread(target=lambda: answers.append(is_document(pipe)))
    looker.start()
    looker.join(5.0)
    blocked = looker.is_alive()
    if blocked:  # a writer lets the blocked open return, so the thread ends
        with pipe.open("wb"):
            pass
        looker.join()
    assert not blocked and answers == [False]


def test_idle_workers_stop_and_start_again_on_demand(digit_files):
    paths = [path for path, _ in digit_files(40)]
    with PreparePool(2) as pool:
        first = [rows[0].sha256 for rows in pool.prepare(paths)]
        pool.stop_if_idle(0.0)
        assert pool._executor is None  # workers gone: memory back to the caller's alone
        assert [rows[0].sha256 for rows in pool.prepare(paths)] == first


def test_the_command_line_starts_without_importing_scipy():
    # SciPy takes 0.15 s to import; `classify` hands its files to decode workers
    # (which have it preloaded), so its own process must not pay for it.
    code = (
        "import sys; import watcher.cli, watcher.batch.classify, watcher.service.loop; "
        "assert 'scipy' not in sys.modules, 'scipy imported at start-up'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
