"""PDF pages rendered with pypdfium2 (PDFium, the PDF engine of Chrome).

Binary wheels, no system dependencies, and no document JavaScript, since
forms are never initialised. Each page is rendered in grey straight at the
size a reading asks for, so a page costs what its reading needs, never a
full 300-dpi raster. `watcher.reading.formats` opens PDFs with these.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from watcher.reading import loading
from watcher.reading.loading import ImageError

if TYPE_CHECKING:
    import pypdfium2

RENDER_DPI = 300  # a PDF page's full size is what a 300-dpi scan of it would be
POINTS_PER_INCH = 72
MM_PER_POINT = 25.4 / POINTS_PER_INCH


@contextmanager
def pdf_document(data: bytes) -> Iterator[pypdfium2.PdfDocument]:
    """Open a PDF with PDFium, turning its failures into ImageErrors that say what to do."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ImageError("encrypted PDF: it needs a password; save a copy without one") from exc
        raise ImageError(f"corrupt PDF: {exc}") from exc
    try:
        yield pdf
    finally:
        pdf.close()


class PdfPage:
    """One PDF page, rendered in grey at the size each reading asks for."""

    def __init__(self, pdf: pypdfium2.PdfDocument, index: int) -> None:
        self._pdf = pdf
        self._index = index

    def read(self, max_side: int | None = None) -> tuple[np.ndarray, int]:
        """The page rendered with its longer side at `max_side` (at most 300 dpi), and that side at 300 dpi."""
        import pypdfium2

        try:
            page = self._pdf[self._index]
            try:
                width, height = page.get_size()  # points, turned as the page is shown
                full = (round(width * RENDER_DPI / POINTS_PER_INCH), round(height * RENDER_DPI / POINTS_PER_INCH))
                if full[0] * full[1] > loading.MAX_PIXELS:
                    raise ImageError(
                        f"page too large: {width * MM_PER_POINT:,.0f} x {height * MM_PER_POINT:,.0f} mm, "
                        f"{full[0]}x{full[1]} pixels at {RENDER_DPI} dpi (limit {loading.MAX_PIXELS:,})"
                    )
                if min(full) < 1:
                    raise ImageError(f"page has no area: {width:g} x {height:g} points")
                side = min(max_side or max(full), max(full))
                bitmap = page.render(scale=side / max(width, height), grayscale=True, draw_annots=True)
                pixels = bitmap.to_numpy()
                bitmap.close()
            finally:
                page.close()
        except pypdfium2.PdfiumError as exc:
            raise ImageError(f"cannot render PDF page {self._index + 1}: {exc}") from exc
        if pixels.ndim == 3:  # PDFium keeps colour formats for pages it cannot render in grey
            pixels = pixels[..., :3].mean(axis=2)
        return np.asarray(pixels, dtype=np.float32) / np.float32(255.0), max(full)

    def read_region(
        self, box: tuple[float, float, float, float], max_side: int | None = None
    ) -> tuple[np.ndarray, int]:
        """The part of the page inside `box` (left, top, right, bottom as fractions of the page as shown),
        rendered alone with its longer side at `max_side` (at most 300 dpi); and that side at 300 dpi."""
        import pypdfium2

        try:
            page = self._pdf[self._index]
            try:
                width, height = page.get_size()  # points, turned as the page is shown
                left, top, right, bottom = (min(max(f, 0.0), 1.0) for f in box)
                region = (max(right - left, 1e-3) * width, max(bottom - top, 1e-3) * height)  # points
                if region[0] * region[1] * (RENDER_DPI / POINTS_PER_INCH) ** 2 > loading.MAX_PIXELS:
                    raise ImageError(f"page region too large: {region[0]:,.0f} x {region[1]:,.0f} points")
                full = round(max(region) * RENDER_DPI / POINTS_PER_INCH)
                side = min(max_side or full, full)
                scale = side / max(region)
                # PDFium cuts these amounts off each side (left, bottom, right, top), after turning the page,
                # rounded up to whole pixels: whole pixels less a hair, so a float error cuts none too many.
                cuts = (left * width, (1 - bottom) * height, (1 - right) * width, top * height)
                crop = tuple(max(round(cut * scale) - 1e-3, 0) / scale for cut in cuts)
                bitmap = page.render(scale=scale, crop=crop, grayscale=True, draw_annots=True)
                pixels = bitmap.to_numpy()
                bitmap.close()
            finally:
                page.close()
        except (pypdfium2.PdfiumError, ValueError) as exc:  # ValueError: a box with no area left to render
            raise ImageError(f"cannot render PDF page {self._index + 1}: {exc}") from exc
        if pixels.ndim == 3:  # PDFium keeps colour formats for pages it cannot render in grey
            pixels = pixels[..., :3].mean(axis=2)
        return np.asarray(pixels, dtype=np.float32) / np.float32(255.0), max(full, 1)
