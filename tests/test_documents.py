"""Documents: a row per page of a PDF or multi-page TIFF, HEIC photos upright, hostile PDFs as error rows."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from document_files import corrupt_pdf, encrypted_pdf, enormous_page_pdf, page_of, write_heic, write_pdf, write_tiff
from watcher.protocol import Status
from watcher.reading.formats import HEIF, format_of
from watcher.reading.imaging import prepare_bytes, prepare_file


@pytest.fixture
def mnist(mnist_small):
    return mnist_small["x_test"]


def similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two normalised 28x28 digits."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def expected(digit: np.ndarray) -> np.ndarray:
    """The digit as normalised from its page saved as a PNG, not through a document."""
    buffer = io.BytesIO()
    page_of(digit).save(buffer, "PNG")
    (row,) = prepare_bytes(buffer.getvalue())
    assert row.digit is not None, row.error
    return row.digit


def test_each_pdf_page_is_one_row_numbered_from_1_with_its_own_digit(tmp_path, mnist):
    path = write_pdf(tmp_path / "scan.pdf", [mnist[0], mnist[1], mnist[2]])
    rows = prepare_file(path)
    assert [row.page for row in rows] == [1, 2, 3]
    assert len({row.sha256 for row in rows}) == 1 and len(rows[0].sha256) == 64
    for row, digit in zip(rows, mnist[:3], strict=True):
        assert row.error is None and row.digit is not None
        assert similar(row.digit, expected(digit)) > 0.9
    assert similar(rows[0].digit, expected(mnist[1])) < 0.8  # the pages are not all the same digit


# A group4 page is bilevel: its strokes lose their grey edges, so it matches the grey page less closely.
@pytest.mark.parametrize(("compression", "likeness"), [("group4", 0.7), ("tiff_lzw", 0.95)])
def test_each_tiff_page_is_one_row(tmp_path, mnist, compression, likeness):
    path = write_tiff(tmp_path / "fax.tif", list(mnist[:4]), compression=compression)
    rows = prepare_file(path)
    assert [row.page for row in rows] == [1, 2, 3, 4]
    for index, row in enumerate(rows):
        assert row.digit is not None
        assert similar(row.digit, expected(mnist[index])) > likeness
        assert similar(row.digit, expected(mnist[index + 1])) < likeness  # each page its own digit


def test_a_single_image_and_an_animated_gif_have_no_page_number(tmp_path, mnist):
    frames = [page_of(mnist[0]), page_of(mnist[1])]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "one.tif")
    for name in ("moving.gif", "one.tif"):
        (row,) = prepare_file(tmp_path / name)
        assert row.page is None and row.digit is not None
        assert similar(row.digit, expected(mnist[0])) > 0.9  # the first frame


def test_a_pdf_is_known_by_its_bytes_whatever_its_name(tmp_path, mnist):
    path = write_pdf(tmp_path / "scan.pdf", [mnist[0], mnist[1]])
    renamed = path.rename(tmp_path / "scan.png")
    assert [row.page for row in prepare_file(renamed)] == [1, 2]


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_heic_photo_is_read_upright(tmp_path, mnist, orientation):
    path = write_heic(tmp_path / "IMG_0001.HEIC", mnist[0], orientation=orientation)
    assert format_of(path.read_bytes()) is HEIF
    # In a fresh interpreter: this one may have registered pillow-heif's plugin already.
    out = tmp_path / "digit.npy"
    code = (
        "import numpy; from watcher.reading.imaging import prepare_file; "
        f"numpy.save({str(out)!r}, prepare_file({str(path)!r})[0].digit)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert similar(np.load(out), expected(mnist[0])) > 0.9


def test_more_pages_than_the_limit_give_one_error_row_and_no_page_rows(tmp_path, mnist):
    path = write_pdf(tmp_path / "long.pdf", [mnist[0]] * 4)
    (row,) = prepare_file(path, max_pages=3)
    assert row.page is None and row.error is not None and row.error.kind == Status.ERROR
    assert "4 pages, more than --max-pages 3" in row.error.reason
    assert len(row.sha256) == 64  # recorded in the ledger, so a restart does not read it again
    assert len(prepare_file(path, max_pages=4)) == 4


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (encrypted_pdf, "encrypted PDF"),
        (corrupt_pdf, "corrupt PDF"),
        (enormous_page_pdf, "page too large: 5,080 x 5,080 mm"),
    ],
)
def test_a_hostile_pdf_becomes_an_error_row_that_says_why(tmp_path, make, reason):
    path = tmp_path / "hostile.pdf"
    path.write_bytes(make())
    rows = prepare_file(path)
    assert len(rows) == 1 and rows[0].error is not None
    assert rows[0].error.kind == Status.ERROR and reason in rows[0].error.reason
