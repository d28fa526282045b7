"""The file formats digitwatch reads, each declared once: its name, its magic bytes and suffixes,
whether it is a document, and how its pages are opened.

A file is opened by what its bytes are, never by its name: a format whose
magic bytes match opens it, and a file no magic matches goes to Pillow,
which tells PNG, JPEG, BMP, WebP, GIF and the PNM family apart by their own
signatures. Names count twice: the inbox takes the names the suffixes make
(`name_patterns`, the default --patterns), and a file named or made as a
document is read only in a decode worker, under the time limit.

Adding a format is one entry in FORMATS: its suffixes, its magic bytes when
Pillow cannot tell it alone, `document=True` when a large C library reads
it, and an opener when it is not one Pillow image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from watcher.reading.loading import ImageError, ImageReader, PageReader, image_header
from watcher.reading.pdf import PdfPage, pdf_document


@dataclass
class Document:
    """A file's pages. `numbered` is False for a single image, whose row has an empty `page`."""

    pages: list[PageReader] = field(default_factory=list)
    numbered: bool = False


# Opens a file's bytes as its pages; the int is the most pages a document may have (ImageError beyond).
Opener = Callable[[bytes, int], AbstractContextManager[Document]]


@dataclass(frozen=True)
class Magic:
    """Bytes that mark a format: one of `signatures` at `offset`, or, with `within`, anywhere in that many
    first bytes."""

    signatures: tuple[bytes, ...]
    offset: int = 0
    within: int | None = None

    def matches(self, data: bytes) -> bool:
        """True when the bytes carry one of the signatures where this format puts them."""
        if self.within is not None:
            head = data[: self.within]
            return any(signature in head for signature in self.signatures)
        return any(data.startswith(signature, self.offset) for signature in self.signatures)

    def reach(self) -> int:
        """How many first bytes must be looked at to tell."""
        if self.within is not None:
            return self.within
        return self.offset + max(len(signature) for signature in self.signatures)


@contextmanager
def image_pages(data: bytes, max_pages: int) -> Iterator[Document]:
    """The one page of an image Pillow reads: its first frame (an animated GIF, WebP or PNG is a photo,
    not a document)."""
    yield Document(pages=[ImageReader(data)])


@contextmanager
def tiff_pages(data: bytes, max_pages: int) -> Iterator[Document]:
    """A page per frame of a multi-page TIFF (a fax, a scanner's batch); one unnumbered page for one frame."""
    frames = _tiff_page_count(data)
    if frames > 1:
        check_page_count(frames, max_pages)
        yield Document(pages=[ImageReader(data, frame) for frame in range(frames)], numbered=True)
        return
    yield Document(pages=[ImageReader(data)])


@contextmanager
def heif_pages(data: bytes, max_pages: int) -> Iterator[Document]:
    """The primary image of a HEIC or HEIF photo, however many it holds (Pillow opens it there)."""
    register_heif()
    yield Document(pages=[ImageReader(data)])


@contextmanager
def pdf_pages(data: bytes, max_pages: int) -> Iterator[Document]:
    """Every page of a PDF, each rendered by PDFium when read; encrypted and corrupt PDFs raise ImageError."""
    with pdf_document(data) as pdf:
        check_page_count(len(pdf), max_pages)
        yield Document(pages=[PdfPage(pdf, index) for index in range(len(pdf))], numbered=True)


@dataclass(frozen=True)
class Format:
    """A kind of file digitwatch reads."""

    name: str
    suffixes: tuple[str, ...]  # lower case, dot first: what the default --patterns take in
    magic: Magic | None = None  # None: Pillow tells this format by its own signatures
    # Read by a large C library that Python cannot interrupt: only ever in a decode worker, under the time limit.
    document: bool = False
    opener: Opener = image_pages


# The ISO media brands of HEIF images (HEVC-coded stills, sequences, and the generic ones), after "ftyp".
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")

PDF = Format(
    "PDF",
    (".pdf",),
    # The PDF standard lets the header start anywhere in the first kilobyte.
    Magic((b"%PDF-",), within=1024),
    document=True,
    opener=pdf_pages,
)
TIFF = Format("TIFF", (".tif", ".tiff"), Magic((b"II*\x00", b"MM\x00*")), document=True, opener=tiff_pages)
HEIF = Format(
    "HEIF",
    (".heic", ".heif"),
    Magic(tuple(b"ftyp" + brand for brand in HEIF_BRANDS), offset=4),
    document=True,
    opener=heif_pages,
)

# In the order the default --patterns list their suffixes.
FORMATS: tuple[Format, ...] = (
    Format("PNG", (".png",)),
    Format("JPEG", (".jpg", ".jpeg")),
    Format("BMP", (".bmp",)),
    TIFF,
    Format("WebP", (".webp",)),
    Format("GIF", (".gif",)),
    Format("PNM", (".pgm", ".ppm", ".pbm")),
    PDF,
    HEIF,
)

# The first bytes that tell every format with magic bytes.
SNIFF_BYTES = max(spec.magic.reach() for spec in FORMATS if spec.magic is not None)
# The formats with magic bytes, in the order they are tried. A header that may start anywhere in the first
# bytes (PDF's) is looked for first, as PDFium does: what comes before it may be anything, another format's
# signature too. The others in FORMATS' order.
_SNIFFED = sorted(
    ((spec.magic, spec) for spec in FORMATS if spec.magic is not None), key=lambda sniffed: sniffed[0].within is None
)
DOCUMENT_SUFFIXES = frozenset(suffix for spec in FORMATS if spec.document for suffix in spec.suffixes)


def name_patterns() -> tuple[str, ...]:
    """The shell patterns of every format's names (`*.png`, ...), in FORMATS' order: the default --patterns."""
    return tuple(f"*{suffix}" for spec in FORMATS for suffix in spec.suffixes)


def format_of(data: bytes) -> Format | None:
    """The format whose magic bytes the file carries, or None (Pillow then tells what it is)."""
    for magic, spec in _SNIFFED:
        if magic.matches(data):
            return spec
    return None


def is_document_name(suffix: str) -> bool:
    """True for a file suffix (".PDF", ".tif") that a document format declares, in any case."""
    return suffix.lower() in DOCUMENT_SUFFIXES


def is_document_data(head: bytes) -> bool:
    """True when a file's first bytes (SNIFF_BYTES of them is enough) are a document format's."""
    spec = format_of(head)
    return spec is not None and spec.document


def check_page_count(count: int, max_pages: int) -> None:
    """Refuse a document of more than `max_pages` pages, or of none, before any page is read."""
    if count > max_pages:
        raise ImageError(
            f"document has {count} pages, more than --max-pages {max_pages}; no page was read", retry=False
        )
    if count == 0:
        raise ImageError("document has no pages")


def register_heif() -> None:
    """Teach Pillow to open HEIC and HEIF, on first need: pillow-heif takes 60 ms to import.

    pillow-heif applies the file's own rotation and mirroring as it decodes,
    and then resets the EXIF orientation to 1, so `exif_transpose` never turns a photo twice.
    """
    import pillow_heif

    pillow_heif.register_heif_opener()


def _tiff_page_count(data: bytes) -> int:
    """Pages in a TIFF (1 for a file Pillow cannot open: reading it says why)."""
    try:
        with image_header(data) as image:  # pages are counted, never decoded: no size limit
            return int(getattr(image, "n_frames", 1))
    except Exception:  # a corrupt TIFF: the reading of its first page gives the error row
        return 1
