"""Split a file into the pages it holds: one for an image, one per page for PDFs and multi-page TIFFs.

Which format a file is, and how its pages open, is declared in
`watcher.reading.formats`: PDF pages are rendered with PDFium, TIFF pages
are its frames, and animated GIF, WebP and PNG keep their first frame, as
does a HEIC with several images (its primary one): they are photos, not
documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from watcher.reading.formats import Document, format_of, image_pages
from watcher.reading.loading import ImageError, PageReader
from watcher.settings import DEFAULT_MAX_PAGES

T = TypeVar("T")


@contextmanager
def open_document(data: bytes, *, max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Document]:
    """The pages of a PDF, of a multi-page TIFF, or the one page of any other image.

    A document of more than `max_pages` pages raises ImageError: the whole file
    gets one error row, never rows for some of its pages, so nothing is cut
    silently. Encrypted and corrupt PDFs raise ImageError too; a single image
    is checked when its page is read.
    """
    spec = format_of(data)
    opener = spec.opener if spec is not None else image_pages
    with opener(data, max_pages) as document:
        yield document


def on_page(data: bytes, page: int | None, work: Callable[[PageReader], T]) -> T:
    """`work` done on one page of a file's bytes (the first for a single image), while its document is open.

    Raises ImageError when the file cannot be read or has no such page, and
    whatever `work` raises.
    """
    with open_document(data) as document:
        index = (page or 1) - 1
        if not 0 <= index < len(document.pages):
            raise ImageError(f"the file has no page {page}")
        return work(document.pages[index])
