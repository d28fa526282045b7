"""Opening image files: every format and mode, 16-bit, alpha, EXIF, frames, and every way a file can be bad."""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from service_helpers import bomb_png
from watcher.reading import loading
from watcher.reading.documents import open_document
from watcher.reading.imaging import prepare_file
from watcher.reading.loading import ImageError, read_image_bytes

EXIF_ORIENTATION = 0x0112  # the EXIF tag phones and cameras write instead of rotating the pixels


@pytest.fixture
def scan(mnist_small) -> np.ndarray:
    """The first test digit as a scan looks: dark ink on white paper, uint8 28x28."""
    return 255 - mnist_small["x_test"][0]


def saved(image: Image.Image, path: Path, **options) -> Path:
    """Save a Pillow image (format from the suffix) and return its path."""
    image.save(path, **options)
    return path


def decode_image(data: bytes, *, max_side: int | None = None) -> np.ndarray:
    """A file's bytes as the reading sees its first page (opened as `prepare_file` opens it), reduced to
    `max_side`; raises ImageError for anything unreadable."""
    with open_document(data) as document:
        return document.pages[0].read(max_side)[0]


def load_image(path: Path, *, max_side: int | None = None) -> np.ndarray:
    """`decode_image` of a file's bytes, read as `prepare_file` reads them."""
    return decode_image(read_image_bytes(path), max_side=max_side)


def grey(pixels: np.ndarray) -> np.ndarray:
    """A loaded image as HxW grey, whether the loader returned grey or colour."""
    return pixels if pixels.ndim == 2 else pixels.mean(axis=2)


def assert_loaded(pixels: np.ndarray, shape: tuple[int, int]) -> None:
    """The loader's contract: float32 in [0, 1], HxW or HxWx3."""
    assert pixels.dtype == np.float32
    assert pixels.shape[:2] == shape
    assert pixels.ndim == 2 or pixels.shape[2] == 3
    assert np.isfinite(pixels).all()
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height grey pixels (a decompression bomb's shape)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(bytes(64)))  # far too few for the size claimed
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


# --- every format and mode -------------------------------------------------------------------

# (format suffix, mode written, mode Pillow opens it as, tolerance on the mean abs difference)
FORMAT_MODES = [
    ("png", "1", "1", 0.05),  # 1-bit: thresholding the grey edges costs a little
    ("png", "L", "L", 0.001),
    ("png", "LA", "LA", 0.001),
    ("png", "P", "P", 0.001),
    ("png", "RGB", "RGB", 0.001),
    ("png", "RGBA", "RGBA", 0.001),
    ("png", "I;16", "I;16", 0.001),
    ("jpg", "L", "L", 0.03),
    ("jpg", "RGB", "RGB", 0.03),
    ("jpg", "CMYK", "CMYK", 0.03),
    ("bmp", "1", "1", 0.05),
    ("bmp", "L", "L", 0.001),
    ("bmp", "P", "L", 0.001),
    ("bmp", "RGB", "RGB", 0.001),
    ("tif", "1", "1", 0.05),
    ("tif", "L", "L", 0.001),
    ("tif", "LA", "LA", 0.001),
    ("tif", "P", "P", 0.001),
    ("tif", "RGB", "RGB", 0.001),
    ("tif", "RGBA", "RGBA", 0.001),
    ("tif", "CMYK", "CMYK", 0.001),
    ("tif", "I;16", "I;16", 0.001),
    ("tif", "I", "I", 0.001),
    ("tif", "F", "F", 0.001),
    ("webp", "L", "RGB", 0.03),
    ("webp", "RGB", "RGB", 0.03),
    ("webp", "RGBA", "RGB", 0.03),
    ("gif", "L", "P", 0.001),
    ("gif", "P", "P", 0.001),
]


def as_mode(scan: np.ndarray, mode: str) -> Image.Image:
    """The uint8 scan as a Pillow image of `mode`, keeping its grey levels (16-bit: times 257)."""
    if mode == "I;16":
        return Image.fromarray(scan.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(scan.astype(np.int32) * 257)
    return Image.fromarray(scan).convert(mode)  # F holds 0..255, as Pillow's convert("F") makes it


@pytest.mark.parametrize(("suffix", "mode", "opened_as", "tolerance"), FORMAT_MODES, ids=lambda v: str(v))
def test_every_format_and_mode_loads_as_the_same_grey_levels(tmp_path, scan, suffix, mode, opened_as, tolerance):
    path = saved(as_mode(scan, mode), tmp_path / f"digit.{suffix}")
    with Image.open(path) as image:
        assert image.mode == opened_as  # the file really holds the mode under test
    pixels = load_image(path)
    assert_loaded(pixels, (28, 28))
    assert np.abs(grey(pixels) - scan / 255.0).mean() < tolerance


def test_neutral_colour_comes_back_grey_and_colour_stays_colour(tmp_path, scan):
    grey_file = saved(Image.fromarray(scan).convert("RGB"), tmp_path / "grey.png")
    assert load_image(grey_file).shape == (28, 28)
    blue = np.stack([scan // 4, scan // 2, scan], axis=2).astype(np.uint8)
    colour = load_image(saved(Image.fromarray(blue), tmp_path / "blue.png"))
    assert colour.shape == (28, 28, 3)
    np.testing.assert_allclose(colour[..., 2], scan / 255.0, atol=1e-6)


# --- 16-bit and float data: scaled, never clipped ------------------------------------------------


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_16_bit_values_at_the_top_of_the_range_are_scaled_not_clipped(tmp_path, scan, suffix):
    # Paper at 65535, ink at 40000: converting to 8 bits by clipping would make it all white.
    values = (40000 + (scan.astype(np.float64) / 255.0) * 25535).astype(np.uint16)
    pixels = load_image(saved(Image.fromarray(values), tmp_path / f"top.{suffix}"))
    assert_loaded(pixels, (28, 28))
    np.testing.assert_allclose(pixels, values / 65535.0, atol=1e-6)
    assert pixels.min() == pytest.approx(40000 / 65535, abs=1e-6)


def test_16_bit_keeps_more_than_256_levels(tmp_path):
    ramp = np.linspace(60000, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    pixels = load_image(saved(Image.fromarray(ramp), tmp_path / "ramp.png"))
    assert len(np.unique(pixels)) > 1000  # not squeezed through 8 bits
    np.testing.assert_allclose(pixels, ramp / 65535.0, atol=1e-6)


def test_16_bit_big_endian_tiff_loads(tmp_path, scan):
    values = scan.astype(">u2") * 257
    pixels = load_image(saved(Image.fromarray(values), tmp_path / "big_endian.tif"))
    np.testing.assert_allclose(pixels, scan / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0.0, 0.25], [0.5, 1.0]]), np.array([[0.0, 0.25], [0.5, 1.0]])),  # already in [0, 1]
        (np.array([[0.0, 51.0], [102.0, 255.0]]), np.array([[0.0, 0.2], [0.4, 1.0]])),  # 8-bit levels as float
        (np.array([[-1.0, 0.0], [1.0, 3.0]]), np.array([[0.0, 0.25], [0.5, 1.0]])),  # any other range: stretched
        (np.array([[np.nan, 0.5], [0.0, 1.0]]), np.array([[0.0, 0.5], [0.0, 1.0]])),  # NaN is not ink
    ],
    ids=["unit", "0-255", "signed", "nan"],
)
def test_float_tiff_is_scaled_by_its_range(tmp_path, values, expected):
    pixels = load_image(saved(Image.fromarray(values.astype(np.float32), mode="F"), tmp_path / "float.tif"))
    assert_loaded(pixels, (2, 2))
    np.testing.assert_allclose(pixels, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 51], [102, 255]]), np.array([[0.0, 0.2], [0.4, 1.0]])),
        (np.array([[0, 13107], [26214, 65535]]), np.array([[0.0, 0.2], [0.4, 1.0]])),
        (np.array([[-100_000, 0], [100_000, 300_000]]), np.array([[0.0, 0.25], [0.5, 1.0]])),
    ],
    ids=["8-bit", "16-bit", "32-bit signed"],
)
def test_32_bit_integer_tiff_is_scaled_by_its_range(tmp_path, values, expected):
    pixels = load_image(saved(Image.fromarray(values.astype(np.int32)), tmp_path / "int.tif"))
    np.testing.assert_allclose(pixels, expected, atol=1e-6)


# --- alpha and transparency: composited onto white paper ---------------------------------------


def test_rgba_ink_drawn_only_in_alpha_lands_on_white(tmp_path, scan):
    # Black everywhere; only alpha says where the ink is, as drawing apps export it.
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = 255 - scan
    pixels = load_image(saved(Image.fromarray(rgba), tmp_path / "alpha.png"))
    assert_loaded(pixels, (28, 28))
    np.testing.assert_allclose(grey(pixels), scan / 255.0, atol=1.5 / 255)


def test_la_half_transparent_black_is_mid_grey(tmp_path):
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 1] = 128
    pixels = load_image(saved(Image.fromarray(la, mode="LA"), tmp_path / "half.png"))
    np.testing.assert_allclose(pixels, 1 - 128 / 255, atol=1e-6)


@pytest.mark.parametrize("mode", ["P", "L", "RGB"])
def test_transparent_colour_key_becomes_white_paper(tmp_path, scan, mode):
    # Background black (0) marked transparent by a palette entry or a tRNS colour key;
    # the ink is dark grey (40), so only the key tells paper from ink.
    pixels_in = np.where(scan < 128, 40, 0).astype(np.uint8)
    image = Image.fromarray(pixels_in).convert(mode)
    key = {"P": image.getpixel((0, 0)), "L": 0, "RGB": (0, 0, 0)}[mode]
    path = saved(image, tmp_path / f"keyed_{mode}.png", transparency=key)
    pixels = load_image(path)
    assert grey(pixels)[0, 0] == pytest.approx(1.0)  # the transparent corner is white paper
    assert grey(pixels)[scan < 128].max() == pytest.approx(40 / 255, abs=1e-6)


def test_gif_transparent_background_becomes_white_paper(tmp_path, scan):
    image = Image.fromarray(np.where(scan < 128, 0, 7).astype(np.uint8), mode="L").convert("P")
    path = saved(image, tmp_path / "transparent.gif", transparency=image.getpixel((0, 0)))
    pixels = load_image(path)
    assert grey(pixels)[scan >= 128].min() == pytest.approx(1.0)
    assert grey(pixels)[scan < 128].max() == pytest.approx(0.0)


# --- EXIF orientation and multi-frame files ---------------------------------------------------


# What to do to an upright image to get the pixels a camera stores with each Orientation tag.
@pytest.mark.parametrize(("suffix", "mode", "opened_as", "tolerance"), FORMAT_MODES, ids=lambda v: str(v))
def test_reading_reduced_averages_the_full_image_in_every_format_and_mode(
    tmp_path, scan, suffix, mode, opened_as, tolerance
):
    big = np.kron(scan, np.ones((9, 7), np.uint8))  # 252x196: reduced by 2 to fit 160 pixels
    path = saved(as_mode(big, mode), tmp_path / f"digit.{suffix}")
    pixels = load_image(path, max_side=160)
    assert_loaded(pixels, (126, 98))
    averaged = big.reshape(126, 2, 98, 2).mean(axis=(1, 3)) / 255.0
    assert np.abs(grey(pixels) - averaged).mean() < tolerance


@pytest.mark.parametrize(
    ("shape", "max_side", "expected"),
    [
        ((700, 450), 160, (140, 90)),  # factor 5: JPEG decodes at 1/4, then the rest by area
        ((640, 480), 160, (160, 120)),  # factor 4: JPEG decodes at 1/4 directly
        ((300, 200), 400, (300, 200)),  # small enough: read in full
    ],
)
def test_jpeg_read_reduced_has_the_size_of_a_whole_factor(tmp_path, shape, max_side, expected):
    width, height = shape
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1)).astype(np.uint8)
    path = saved(Image.fromarray(ramp), tmp_path / "ramp.jpg", quality=95)
    pixels = load_image(path, max_side=max_side)
    assert pixels.shape == expected[::-1]
    columns = np.linspace(0, 1, expected[0])
    assert np.abs(pixels.mean(axis=0) - columns).max() < 0.03  # still the same ramp, not cropped or shifted


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_a_second_finer_reading_equals_a_fresh_one(tmp_path, scan, suffix):
    big = np.kron(scan, np.ones((24, 20), np.uint8))  # 672x560
    data = saved(Image.fromarray(big), tmp_path / f"page.{suffix}", quality=95).read_bytes()
    reader = loading.ImageReader(data)
    coarse, full_side = reader.read(160)
    finer, _ = reader.read(340)  # a PNG is averaged again; a JPEG decoded at 1/4 is decoded again at 1/2
    assert full_side == 672 and coarse.shape == (135, 112) and finer.shape == (336, 280)  # factors 5 and 2
    np.testing.assert_array_equal(finer, loading.ImageReader(data).read(340)[0])


def test_reduced_alpha_is_averaged_premultiplied(tmp_path):
    rgba = np.zeros((200, 200, 4), np.uint8)  # clear and black everywhere...
    rgba[:, 100:] = (255, 255, 255, 255)  # ...but an opaque white right half
    pixels = load_image(saved(Image.fromarray(rgba), tmp_path / "half.png"), max_side=50)
    assert pixels.shape == (50, 50)
    # Clear black must not darken the white half's edge: all white paper, nothing to read as ink.
    assert pixels.min() > 0.99


STORED_FOR_ORIENTATION = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, 1),  # viewer rotates 90 degrees clockwise
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, -1),  # viewer rotates 90 degrees anticlockwise
}


@pytest.mark.parametrize("orientation", sorted(STORED_FOR_ORIENTATION))
def test_exif_orientation_is_applied(tmp_path, scan, orientation):
    upright = np.pad(scan, ((0, 0), (0, 12)), constant_values=255)  # 28x40: not square, so shape tells
    stored = np.ascontiguousarray(STORED_FOR_ORIENTATION[orientation](upright))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    path = saved(Image.fromarray(stored), tmp_path / "photo.jpg", exif=exif, quality=95)
    pixels = load_image(path)
    assert pixels.shape == (28, 40)
    assert np.abs(pixels - upright / 255.0).mean() < 0.02
    assert load_image(path, max_side=20).shape == (14, 20)  # reduced upright, not as stored


@pytest.mark.parametrize("suffix", ["gif", "tif", "png", "webp"])
def test_multi_frame_file_gives_its_first_frame(tmp_path, mnist_small, suffix):
    first, second = (Image.fromarray(255 - mnist_small["x_test"][i]).convert("RGB") for i in (0, 1))
    path = saved(first, tmp_path / f"frames.{suffix}", save_all=True, append_images=[second], lossless=True)
    with Image.open(path) as image:
        assert image.n_frames == 2
    pixels = grey(load_image(path))
    assert np.abs(pixels - (255 - mnist_small["x_test"][0]) / 255.0).mean() < 0.005
    assert np.abs(pixels - (255 - mnist_small["x_test"][1]) / 255.0).mean() > 0.1


# --- unreadable files: our own error, with a reason -------------------------------------------


def assert_refused(path: Path, *words: str) -> ImageError:
    """Loading `path` raises ImageError(kind="error") whose reason holds one of `words`."""
    with pytest.raises(ImageError) as caught:
        load_image(path)
    error = caught.value
    assert error.kind == "error"
    assert error.reason and str(error) == error.reason
    assert any(word in error.reason for word in words), error.reason
    return error


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_refused(path, "empty")


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("This is a shopping list, not a digit.\n" * 20)
    assert_refused(path, "not an image")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("prefix", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"II*\x00", b"BM"])
def test_random_bytes_are_refused(tmp_path, prefix):
    path = tmp_path / "noise.png"
    path.write_bytes(prefix + np.random.default_rng(0).bytes(4096))
    assert_refused(path, "not an image", "corrupt", "truncated")


@pytest.mark.parametrize("suffix", ["png", "jpg", "gif", "tif", "bmp", "webp"])
def test_truncated_file_is_refused(tmp_path, scan, suffix):
    whole = saved(Image.fromarray(scan).resize((112, 112)), tmp_path / f"whole.{suffix}")
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert_refused(cut, "truncated", "corrupt")


def test_missing_file_and_folder_are_refused(tmp_path):
    assert_refused(tmp_path / "gone.png", "cannot read")
    assert_refused(tmp_path, "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    assert_refused(pipe, "not a regular file")


def test_file_over_max_bytes_is_refused_unread(tmp_path, monkeypatch, scan):
    path = saved(Image.fromarray(scan), tmp_path / "digit.png")
    monkeypatch.setattr(loading, "MAX_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(loading.Path, "open", lambda *a, **k: pytest.fail("opened a file over MAX_BYTES"))
    assert_refused(path, "too large")


def test_file_growing_past_max_bytes_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "growing.png"
    path.write_bytes(bytes(1000))
    real_stat = Path.stat

    def stat_taken_earlier(self, *args, **kwargs):
        now = real_stat(self, *args, **kwargs)
        return os.stat_result((now.st_mode, now.st_ino, now.st_dev, now.st_nlink, now.st_uid, now.st_gid, 10, 0, 0, 0))

    monkeypatch.setattr(loading, "MAX_BYTES", 100)
    monkeypatch.setattr(loading.Path, "stat", stat_taken_earlier)
    with pytest.raises(ImageError, match="too large"):
        read_image_bytes(path)


# --- decompression bombs: refused from the header, before decoding -----------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(7_000, 7_000), (10_000, 10_000), (30_000, 30_000), (65_535, 65_535)],
    ids=["over MAX_PIXELS", "over Pillow's warning", "over Pillow's limit", "4 gigapixels"],
)
def test_decompression_bomb_is_refused_quickly_without_decoding(tmp_path, monkeypatch, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(width, height))
    assert path.stat().st_size < 200  # a tiny file claiming a huge image
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: pytest.fail("decoded a bomb"))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = assert_refused(path, "too large")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0  # seconds
    assert peak < 1_000_000  # bytes: nothing the size of the image was allocated
    assert error.reason == f"image too large: {width}x{height} pixels (limit {loading.MAX_PIXELS:,})"


def test_max_pixels_is_the_limit_used(tmp_path, monkeypatch, scan):
    path = saved(Image.fromarray(scan), tmp_path / "digit.png")
    monkeypatch.setattr(loading, "MAX_PIXELS", 28 * 28 - 1)
    assert_refused(path, "too large")
    monkeypatch.setattr(loading, "MAX_PIXELS", 28 * 28)
    assert load_image(path).shape == (28, 28)


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["over Pillow's warning", "over Pillow's limit"])
def test_a_real_image_over_pillows_own_limit_gets_our_reason_not_pillows(tmp_path, side):
    """Pillow refuses these itself as it opens them ("decompression bomb DOS attack", no size); we name the size."""
    path = bomb_png(tmp_path / "huge.png", side=side)  # a real, decodable 1-bit PNG of a few kB
    pillows_limit = Image.MAX_IMAGE_PIXELS
    assert pillows_limit is not None and side * side > pillows_limit
    with pytest.raises((Image.DecompressionBombError, Image.DecompressionBombWarning)), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.open(path)
    error = assert_refused(path, "too large")
    assert error.reason == f"image too large: {side}x{side} pixels (limit 40,000,000)"
    assert "decompression bomb" not in error.reason
    (page,) = prepare_file(path)  # the way watch and classify read it: the row's detail
    assert page.error is not None and page.error.reason == error.reason
    assert pillows_limit == Image.MAX_IMAGE_PIXELS  # Pillow's own limit is back for everyone else


# --- properties: any bytes at all give an array or our error ----------------------------------


def valid_files() -> list[bytes]:
    """Small real files of several formats, for the fuzzer to mutate."""
    ramp = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    deep = Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    files = []
    for fmt, image in [
        ("PNG", ramp),
        ("PNG", ramp.convert("RGBA")),
        ("GIF", ramp.convert("P")),
        ("TIFF", deep),
        ("BMP", ramp.convert("RGB")),
        ("JPEG", ramp),
        ("WEBP", ramp.convert("RGB")),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        files.append(buffer.getvalue())
    return files


VALID_FILES = valid_files()


def assert_array_or_image_error(data: bytes) -> None:
    try:
        pixels = decode_image(data)
    except ImageError as error:
        assert error.kind == "error" and error.reason
        return
    assert_loaded(pixels, pixels.shape[:2])


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt metadata it skips
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=2048))
def test_any_bytes_give_an_array_or_image_error(data):
    assert_array_or_image_error(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    original=st.sampled_from(VALID_FILES),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.05, 1.0),
)
def test_damaged_real_files_give_an_array_or_image_error(original, flips, keep):
    data = bytearray(original)
    for position, value in flips:
        data[position % len(data)] = value
    assert_array_or_image_error(bytes(data[: max(1, int(len(data) * keep))]))


def test_cut_out_page_in_clear_surround_takes_the_paper_colour(tmp_path):
    """A phone app's cut-out: grey paper, opaque, inside a transparent margin."""
    rgba = np.zeros((100, 80, 4), np.uint8)
    rgba[20:80, 15:65] = (180, 175, 170, 255)  # the paper
    rgba[40:60, 35:40] = (20, 20, 20, 255)  # a stroke of ink
    pixels = load_image(saved(Image.fromarray(rgba, mode="RGBA"), tmp_path / "cutout.png"))
    np.testing.assert_allclose(pixels[0, 0], np.float32([180, 175, 170]) / 255, atol=1e-6)
    np.testing.assert_allclose(pixels[50, 37], np.float32([20, 20, 20]) / 255, atol=1e-6)


def test_a_turned_photo_read_in_full_then_reduced_keeps_its_upright_shape():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored lying on its side: 300 wide, 200 high; upright 200 wide, 300 high
    Image.new("L", (300, 200), 200).save(buffer, "JPEG", exif=exif.tobytes())
    reader = loading.ImageReader(buffer.getvalue())
    assert reader.read(None)[0].shape == (300, 200)
    assert reader.read(100)[0].shape == (100, 67)
