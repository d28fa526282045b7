"""Small digits on big pages: a digit 1.5% of an A4 page's side or more is read, a smaller one is called too small."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
from PIL import Image

from conftest import read_digit
from watcher.protocol import Status
from watcher.reading.documents import open_document
from watcher.reading.imaging import normalise_array
from watcher.reading.loading import ImageError, ImageReader

A4 = (2480, 3508)  # pixels: width and height of an A4 page at 300 dpi
PAPER = 235  # grey level of the paper, ink is darker by INK
INK = 200
# Test digits (indices into the small MNIST test set) whose renderings all match MNIST closely.
DIGITS = (1, 2, 3)
BOX = (0.25, 0.5, 0.75, 1.0)  # a region as fractions: left, top, right, bottom


def a4_page(digit: np.ndarray, share: float, rng: np.random.Generator) -> Image.Image:
    """A grey A4 page at 300 dpi with a little grain, holding `digit` (28x28, white on black)
    `share` of the page's height tall somewhere on it."""
    width, height = A4
    page = np.full((height, width), PAPER, np.float32)
    grain = rng.normal(0.0, 3.0, (256, 256)).astype(np.float32)
    page += np.tile(grain, (height // 256 + 1, width // 256 + 1))[:height, :width]
    if share > 0:
        rows = np.flatnonzero(digit.max(axis=1) > 0)
        side = round(28 * share * height / (rows[-1] - rows[0] + 1))  # the inked rows become share * height
        big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR), np.float32)
        top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
        page[top : top + side, left : left + side] -= INK / 255.0 * big
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), mode="L")


def save(image: Image.Image, path: Path) -> Path:
    """Save as the suffix says: PNG (fast compression), JPEG, or a one-page PDF at 300 dpi."""
    if path.suffix == ".pdf":
        image.save(path, "PDF", resolution=300)
    elif path.suffix == ".png":
        image.save(path, compress_level=1)
    else:
        image.save(path, quality=90)
    return path


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize(
    ("suffix", "share", "which"),
    [
        (".png", 0.035, 0),
        (".png", 0.05, 1),
        (".jpg", 0.035, 2),
        (".jpg", 0.05, 0),
        (".pdf", 0.035, 1),
        (".png", 0.03, 2),
        # A digit written in a form box, 7-8 mm on A4 at 300 dpi (80-100 px), and the smallest read.
        (".png", 0.023, 0),
        (".jpg", 0.028, 1),
        (".pdf", 0.02, 2),
        (".png", 0.016, 1),
    ],
)
def test_small_digit_on_an_a4_page_is_read(tmp_path, mnist_small, suffix, share, which):
    index = DIGITS[which]
    digit = mnist_small["x_test"][index]
    path = save(a4_page(digit, share, np.random.default_rng(index)), tmp_path / f"page{suffix}")
    got = read_digit(path)
    assert got.shape == (28, 28)
    # Read closely, the digit matches MNIST's own normalisation of it.
    assert correlation(got, normalise_array(digit / 255.0)) > 0.85


def test_digit_too_few_pixels_across_for_the_reduced_reading_is_read(tmp_path, mnist_small):
    from watcher.reading.imaging import ANALYSIS_SIDE
    from watcher.reading.ink import find_ink

    digit = mnist_small["x_test"][25]
    path = save(a4_page(digit, 0.06, np.random.default_rng(25)), tmp_path / "page.jpg")
    # Read reduced, this digit is a blob a few pixels across: too small to judge, so it is read again finely.
    reduced = find_ink(ImageReader(path.read_bytes()).read(ANALYSIS_SIDE)[0])
    assert max(reduced.mask.shape) <= 20, reduced.mask.shape  # its box, faint edge and soft edge, at 160 px
    assert correlation(read_digit(path), normalise_array(digit / 255.0)) > 0.85


def test_digit_under_one_and_a_half_percent_of_the_page_is_too_small(tmp_path, mnist_small):
    digit = mnist_small["x_test"][DIGITS[0]]
    path = save(a4_page(digit, 0.0125, np.random.default_rng(0)), tmp_path / "page.png")
    with pytest.raises(ImageError, match="digit too small to read") as caught:
        read_digit(path)
    assert caught.value.kind == Status.NO_DIGIT


def test_blank_a4_page_is_still_blank(tmp_path):
    path = save(a4_page(np.zeros((28, 28), np.uint8), 0.0, np.random.default_rng(0)), tmp_path / "page.jpg")
    with pytest.raises(ImageError, match="no ink: the image is blank or too faint") as caught:
        read_digit(path)
    assert caught.value.kind == Status.NO_DIGIT


@pytest.mark.parametrize(("height", "width"), [(8, 8), (28, 4)])
def test_specks_on_a_blank_page_are_not_a_digit(tmp_path, height, width):
    image = a4_page(np.zeros((28, 28), np.uint8), 0.0, np.random.default_rng(0))
    pixels = np.asarray(image).copy()
    # Dust, or a scratch shaped like a tiny 1: under SPECK_SHARE of the page, not worth calling a digit.
    pixels[400 : 400 + height, 300 : 300 + width] = 30
    pixels[2000 : 2000 + height // 2, 1700 : 1700 + width] = 60
    path = save(Image.fromarray(pixels), tmp_path / "page.png")
    with pytest.raises(ImageError, match="blank or too faint"):
        read_digit(path)


class CountingReader(ImageReader):
    """An ImageReader that counts its region readings."""

    regions = 0

    def read_region(
        self, box: tuple[float, float, float, float], max_side: int | None = None
    ) -> tuple[np.ndarray, int]:
        self.regions += 1
        return super().read_region(box, max_side)


def test_a_digit_filling_its_page_is_read_without_a_closer_look(mnist_small):
    from watcher.reading.imaging import normalise_page

    image = Image.fromarray(255 - np.kron(mnist_small["x_test"][DIGITS[0]], np.ones((10, 10), np.uint8)))
    data = io.BytesIO()
    image.save(data, "PNG")
    reader = CountingReader(data.getvalue())
    assert normalise_page(reader).shape == (28, 28)
    assert reader.regions == 0


def blocks(seed: int = 0) -> np.ndarray:
    """A 400x600 grey image of random 10-px blocks: any misplaced region shows."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (40, 60)), np.ones((10, 10))).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_read_region_gives_that_part_of_the_image(fmt):
    data = io.BytesIO()
    Image.fromarray(blocks()).save(data, fmt, quality=95)
    reader = ImageReader(data.getvalue())
    reader.read(160)  # as a page is read first: a JPEG is kept decoded at a fraction of its size
    region, side = reader.read_region(BOX)
    assert side == 300
    whole, _ = ImageReader(data.getvalue()).read()
    np.testing.assert_allclose(region, whole[200:400, 150:450], atol=1e-6)
    reduced, side = reader.read_region(BOX, 150)
    assert (reduced.shape, side) == ((100, 150), 300)
    # Averaged from the full decoding, where a fresh reading decodes a JPEG at half size: a level apart at most.
    halved = ImageReader(data.getvalue()).read(300)[0]
    np.testing.assert_allclose(reduced, halved[100:200, 75:225], atol=2.5 / 255)


def test_read_region_of_a_turned_photo_is_upright():
    data = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held turned: shown turned a quarter clockwise
    Image.fromarray(blocks()).save(data, "PNG", exif=exif)
    region, side = ImageReader(data.getvalue()).read_region(BOX)
    upright = np.rot90(blocks(), -1) / np.float32(255.0)  # 600 high, 400 wide
    assert side == 300
    np.testing.assert_allclose(region, upright[300:600, 100:300], atol=1e-6)


@pytest.mark.parametrize("rotation", [0, 90])
def test_read_region_renders_that_part_of_a_pdf_page(rotation):
    source = io.BytesIO()
    Image.fromarray(blocks()).save(source, "PDF", resolution=300)
    pdf = pypdfium2.PdfDocument(source.getvalue())
    pdf[0].set_rotation(rotation)  # shown turned clockwise; the box is on the page as shown
    data = io.BytesIO()
    pdf.save(data)
    pdf.close()
    shown = np.rot90(blocks(), -rotation // 90) / np.float32(255.0)
    height, width = shown.shape
    with open_document(data.getvalue()) as document:
        region, side = document.pages[0].read_region(BOX)
    assert side == 300
    assert region.shape == (height // 2, width // 2)
    # PDF keeps the image as JPEG, and PDFium resamples it: near, not equal.
    assert float(np.abs(region - shown[height // 2 :, width // 4 : 3 * width // 4]).mean()) < 0.04


def reduced_page(rng: np.random.Generator) -> np.ndarray:
    """A page as read reduced to 160 px: paper with a little grain."""
    return (0.8 + 0.005 * rng.standard_normal((160, 113))).astype(np.float32)


def test_ink_spot_is_found_with_room_around_it():
    from watcher.reading.ink import find_ink_spot

    page = reduced_page(np.random.default_rng(0))
    page[50:56, 60:64] -= 0.3  # a small digit, a few diluted pixels at this scale
    box = find_ink_spot(page)
    assert box is not None
    assert box[0].start < 50 and box[0].stop > 56 and box[1].start < 60 and box[1].stop > 64
    assert box[0].stop - box[0].start < 25  # around the digit, not the page


def test_ink_spots_all_over_the_page_are_not_a_small_digit():
    from watcher.reading.ink import find_ink_spot

    rng = np.random.default_rng(0)
    page = reduced_page(rng)
    for top, left in zip(rng.integers(0, 158, 40), rng.integers(0, 111, 40), strict=True):
        page[top : top + 2, left : left + 2] -= 0.2  # grain or noise standing out everywhere
    assert find_ink_spot(page) is None


def test_ink_across_the_page_is_not_a_small_digit():
    from watcher.reading.ink import find_ink_spot

    page = reduced_page(np.random.default_rng(0))
    page[::30, :] -= 0.1  # faint squared paper: one patch of ink as large as the page
    page[:, ::30] -= 0.1
    assert find_ink_spot(page) is None


def test_the_size_limit_allows_for_a_few_pixels_of_measurement(tmp_path, mnist_small):
    # 1.47% of the page (52 px), just under 1.5% (53 px): a digit written 1.5% tall can measure
    # a pixel or two less in a JPEG; the limit gives the measurement 5% of slack.
    digit = mnist_small["x_test"][4]
    path = save(a4_page(digit, 0.0147, np.random.default_rng(4)), tmp_path / "page.jpg")
    assert correlation(read_digit(path), normalise_array(digit / 255.0)) > 0.85


def test_a_digit_under_20_px_is_too_small_even_on_a_small_page(tmp_path, mnist_small):
    # 18 px on a 1,000-px page is 1.8% of it, over the share, but too few pixels to read a digit from.
    digit = mnist_small["x_test"][DIGITS[1]]
    page = np.full((1000, 700), PAPER, np.float32)
    big = np.asarray(Image.fromarray(digit).resize((24, 24), Image.Resampling.BILINEAR), np.float32)
    page[500:524, 300:324] -= INK / 255.0 * big
    path = save(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)), tmp_path / "page.png")
    with pytest.raises(ImageError, match=r"digit too small to read: about 1\d px .* where 20 px") as caught:
        read_digit(path)
    assert caught.value.kind == Status.NO_DIGIT
