"""Real documents for tests: PDFs, multi-page TIFFs and HEIC photos of MNIST digits, and hostile PDFs.

The slow PDFs are real: a page draws a form that draws a form of 900 strokes,
hundreds of times, which PDFium takes seconds to render (about 20 s for
SLOW_CALLS on a two-core machine), while the file is 10 kB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from watcher.reading.imaging import Prepared, prepare_file

PAGE = (600, 800)  # pixels, width x height: a small page, so tests stay fast
DIGIT_SIDE = 280  # pixels: the 28x28 MNIST field scaled up on the page


def page_of(digit: np.ndarray) -> Image.Image:
    """A white grey page with the MNIST digit (white on black, 28x28) drawn dark in its middle."""
    ink = Image.fromarray(255 - np.asarray(digit, dtype=np.uint8), mode="L").resize(
        (DIGIT_SIDE, DIGIT_SIDE), Image.Resampling.BILINEAR
    )
    page = Image.new("L", PAGE, 255)
    page.paste(ink, ((PAGE[0] - DIGIT_SIDE) // 2, (PAGE[1] - DIGIT_SIDE) // 2))
    return page


def write_pdf(path: Path, digits: list[np.ndarray]) -> Path:
    """A scanner-style PDF: one page per digit, each page a 100-dpi raster (Pillow's PDF writer)."""
    pages = [page_of(digit) for digit in digits]
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    return path


def write_tiff(path: Path, digits: list[np.ndarray], *, compression: str) -> Path:
    """A multi-page TIFF, one page per digit: group4 pages are bilevel, as fax and batch scanners save them."""
    pages = [page_of(digit) for digit in digits]
    if compression == "group4":
        pages = [page.point(lambda level: 255 if level > 128 else 0).convert("1") for page in pages]
    pages[0].save(path, save_all=True, append_images=pages[1:], compression=compression)
    return path


def write_heic(path: Path, digit: np.ndarray, *, orientation: int = 1) -> Path:
    """An iPhone-style HEIC photo of the digit (colour), with the EXIF orientation given."""
    import pillow_heif

    photo = page_of(digit).convert("RGB")
    if orientation == 6:  # the camera was turned: the stored picture lies on its side
        photo = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    # pillow-heif's own writer: registering its Pillow plugin here would hide a reader that forgot to.
    pillow_heif.from_pillow(photo).save(path, quality=90, exif=exif.tobytes())
    return path


def pdf_bytes(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF made by hand: the numbered objects, a cross-reference table and a trailer."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return out


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
ONE_PAGE = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def encrypted_pdf() -> bytes:
    """A PDF with a user password (the standard security handler): PDFium cannot open it without one."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    security = b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"
    return pdf_bytes([CATALOG, ONE_PAGE, page, security], b"/Encrypt 4 0 R /ID [<%s> <%s>] " % (b"33" * 16, b"33" * 16))


def enormous_page_pdf() -> bytes:
    """A PDF whose one page is 200 x 200 inches, the largest the PDF standard allows."""
    return pdf_bytes([CATALOG, ONE_PAGE, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>"])


def corrupt_pdf() -> bytes:
    """Bytes that start like a PDF and then are not one."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8


STROKES = b"0.5 w 10 10 m " + b"590 590 l 10 590 l 590 10 l " * 300 + b"S"
SLOW_CALLS = 30  # a page drawing the nested form this many times (900 forms) renders for ~20 s


def drawing_pdf(pages: int, calls: int, *, nested: bool = False) -> bytes:
    """A PDF whose every page draws a 900-stroke form `calls` times (a form that does so, when nested)."""
    form = b"/Type /XObject /Subtype /Form /BBox [0 0 600 600]"
    kids = b" ".join(b"%d 0 R" % (5 + 2 * page) for page in range(pages))
    objects = [
        CATALOG,
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        _stream(form, STROKES),
        _stream(form + b" /Resources << /XObject << /X0 3 0 R >> >>", b"/X0 Do " * calls),
    ]
    resources = b"/Resources << /XObject << /X0 3 0 R /X1 4 0 R >> >>"
    for page in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 600] /Contents %d 0 R %s >>" % (6 + 2 * page, resources)
        )
        objects.append(_stream(b"", (b"/X1 Do " if nested else b"/X0 Do ") * calls))
    return pdf_bytes(objects)


def _stream(entries: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


def assert_read_right(got: list[Prepared], path: Path) -> None:
    """The rows the workers gave for `path` are those of reading it here."""
    expected = prepare_file(path)

    def summary(rows: list[Prepared]) -> list[tuple[str, int | None, tuple[str, str] | None]]:
        return [(row.sha256, row.page, row.error and (row.error.kind, row.error.reason)) for row in rows]

    assert summary(got) == summary(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.digit is None) == (b.digit is None)
        if a.digit is not None:
            np.testing.assert_array_equal(a.digit, b.digit)
