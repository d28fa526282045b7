"""The format registry: every format declared in `watcher.reading.formats` opens a real file of its kind,
is told by its bytes when it declares magic bytes, is taken in by the default patterns, and goes to the
decode workers when it is a document, whatever the file is called."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from document_files import page_of, write_heic, write_pdf, write_tiff
from watcher.pipeline.eligibility import why_ignored
from watcher.reading.documents import open_document
from watcher.reading.formats import FORMATS, Format, format_of
from watcher.reading.imaging import prepare_file, read_page
from watcher.reading.loading import ImageReader
from watcher.reading.pool import is_document
from watcher.settings import IMAGE_PATTERNS


def _pillow(format_name: str, **options: object) -> Callable[[Path, list[np.ndarray]], Path]:
    def write(path: Path, digits: list[np.ndarray]) -> Path:
        page_of(digits[0]).save(path, format_name, **options)
        return path

    return write


# A real file of each format, written by another program's code (Pillow's, PDF's and pillow-heif's writers),
# with two pages where the format holds several. A format added to the registry needs its sample here.
SAMPLES: dict[str, tuple[Callable[[Path, list[np.ndarray]], Path], int]] = {
    "PNG": (_pillow("PNG"), 1),
    "JPEG": (_pillow("JPEG", quality=95), 1),
    "BMP": (_pillow("BMP"), 1),
    "TIFF": (lambda path, digits: write_tiff(path, digits[:2], compression="tiff_lzw"), 2),
    "WebP": (_pillow("WEBP", quality=95), 1),
    "GIF": (_pillow("GIF"), 1),
    "PNM": (_pillow("PPM"), 1),  # a grey page: Pillow writes it as a binary PGM
    "PDF": (lambda path, digits: write_pdf(path, digits[:2]), 2),
    "HEIF": (lambda path, digits: write_heic(path, digits[0]), 1),
}


def similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two normalised 28x28 digits."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def expected(digit: np.ndarray) -> np.ndarray:
    """The digit as normalised from its page saved as a PNG."""
    buffer = io.BytesIO()
    page_of(digit).save(buffer, "PNG")
    return read_page(ImageReader(buffer.getvalue())).digit


def test_every_format_has_a_sample_and_every_document_has_magic_bytes():
    assert sorted(SAMPLES) == sorted(spec.name for spec in FORMATS)
    # A document told by its name alone would be read in the main process once misnamed.
    assert all(spec.magic is not None for spec in FORMATS if spec.document)


@pytest.mark.parametrize("spec", FORMATS, ids=[spec.name for spec in FORMATS])
@pytest.mark.parametrize("suffix", ["declared", ".bin"])
def test_each_format_opens_a_real_file_and_is_told_by_its_bytes(tmp_path, mnist_small, spec: Format, suffix: str):
    digits = list(mnist_small["x_test"][:2])
    write, pages = SAMPLES[spec.name]
    path = write(tmp_path / f"sample{spec.suffixes[0]}", digits)
    if suffix != "declared":
        path = path.rename(path.with_suffix(suffix))
    data = path.read_bytes()

    assert format_of(data) is (spec if spec.magic is not None else None)  # else Pillow tells it by its own
    with open_document(data) as document:
        assert len(document.pages) == pages and document.numbered is (pages > 1)
    rows = prepare_file(path)
    assert [row.page for row in rows] == (list(range(1, pages + 1)) if pages > 1 else [None])
    for row, digit in zip(rows, digits, strict=False):
        assert row.error is None and row.digit is not None, row.error
        assert similar(row.digit, expected(digit)) > 0.8  # JPEG, read at a draft scale, is the least alike
    # A document goes to the decode workers by its name, and by its bytes whatever it is called.
    assert is_document(path) is spec.document


@pytest.mark.parametrize("spec", FORMATS, ids=[spec.name for spec in FORMATS])
def test_each_suffix_is_taken_in_by_the_default_patterns_in_any_case(spec: Format):
    for suffix in spec.suffixes:
        for name in (f"scan{suffix}", f"SCAN{suffix.upper()}"):
            assert why_ignored(PurePosixPath(name), patterns=IMAGE_PATTERNS) is None, name
            assert is_document(Path(name)) is spec.document, name  # no such file: the name alone decides
