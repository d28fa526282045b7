"""The scan renderer behind benchmarks/bench_scans.py: seeded, and real files of every stated format and mode."""

from __future__ import annotations

import importlib.util
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.data import normalise_digits
from watcher.reading.documents import open_document
from watcher.reading.formats import HEIF, format_of
from watcher.reading.imaging import prepare_file

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FILE_MODES = {"L": "L", "RGB": "RGB", "P": "P", "I;16": "I;16", "1": "1", "RGBA-border": "RGBA", "RGBA-clear": "RGBA"}


def first_page(data: bytes) -> np.ndarray:
    """A file's first page in full, as the product's own reader opens it (`prepare_file` does so)."""
    with open_document(data) as document:
        return document.pages[0].read()[0]


def _load_benchmark_module(name: str):
    """Import a benchmarks/ script by path: benchmarks/ is not an installed package."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


scan_render = _load_benchmark_module("scan_render")


@pytest.fixture(scope="module")
def digit(mnist_small) -> np.ndarray:
    """One MNIST test digit, a 7."""
    assert mnist_small["y_test"][0] == 7
    return mnist_small["x_test"][0]


@pytest.mark.parametrize("condition", list(scan_render.CONDITIONS))
def test_each_condition_writes_a_decodable_file_of_its_format_and_mode(condition, digit):
    style = scan_render.CONDITIONS[condition]
    file = scan_render.render_digit_file(digit, condition, scan_render.image_rng(0, 0, 1))
    with Image.open(io.BytesIO(file.data)) as image:
        assert image.format == style.format
        assert image.mode == FILE_MODES[style.mode]
        assert file.suffix == scan_render.SUFFIXES[image.format]
    pixels = first_page(file.data)  # the product's own loader reads it
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    assert min(grey.shape) >= 28
    assert np.percentile(grey, 50) - grey.min() > 0.2, "dark ink on lighter paper"


def test_the_same_seed_gives_identical_files_and_another_seed_different_ones(digit):
    for condition in scan_render.CONDITIONS:
        first = scan_render.render_digit_file(digit, condition, scan_render.image_rng(7, 0, 3))
        again = scan_render.render_digit_file(digit, condition, scan_render.image_rng(7, 0, 3))
        other = scan_render.render_digit_file(digit, condition, scan_render.image_rng(8, 0, 3))
        assert first == again, condition
        assert first.data != other.data, condition


def test_digit_files_take_the_conditions_in_turn(mnist_small):
    digits = mnist_small["x_test"][:3]
    names = [name for name, _ in scan_render.digit_files(digits, seed=0)]
    assert names == list(scan_render.CONDITIONS)[:3]


@pytest.mark.parametrize("kind", scan_render.NON_DIGIT_KINDS)
def test_non_digit_images_are_seeded_and_decodable(kind):
    index = scan_render.NON_DIGIT_KINDS.index(kind)
    for offset in range(0, 4 * len(scan_render.NON_DIGIT_KINDS), len(scan_render.NON_DIGIT_KINDS)):
        first = scan_render.render_non_digit_file(kind, scan_render.image_rng(0, 1, index + offset))
        again = scan_render.render_non_digit_file(kind, scan_render.image_rng(0, 1, index + offset))
        assert first == again
        assert first_page(first.data).size > 0


def test_letters_and_smudges_leave_ink_but_blank_pages_none():
    style = scan_render.CONDITIONS["clean scan, white paper, grey PNG"]
    rng = scan_render.image_rng(0, 1, 0)
    ink = {kind: np.asarray(scan_render.render_non_digit(kind, style, rng), np.float32) / 255.0
           for kind in ("capital letters", "smudge", "blank page")}  # fmt: skip
    assert ink["capital letters"].min() < 0.3
    assert ink["smudge"].min() < 0.85
    assert (ink["blank page"] < 0.5).mean() < 0.02  # at worst a few specks of dust, never a stroke


scan_documents = _load_benchmark_module("scan_documents")
bench_scans = _load_benchmark_module("bench_scans")


def _document(condition: str, mnist_small, *, pages: int, index: int = 0) -> bytes:
    digits = list(mnist_small["x_test"][index : index + pages])
    return scan_documents.render_document(condition, digits, scan_render.image_rng(0, 2, index)).data


@pytest.mark.parametrize("condition", list(scan_documents.DOCUMENTS))
def test_each_document_condition_gives_the_product_one_row_per_digit(condition, mnist_small, tmp_path):
    pages = scan_documents.DOCUMENTS[condition].pages[1]
    path = tmp_path / "document"
    path.write_bytes(_document(condition, mnist_small, pages=pages))
    rows = prepare_file(path)
    numbered = pages > 1 or condition.startswith("PDF")
    assert [row.page for row in rows] == (list(range(1, pages + 1)) if numbered else [None])
    assert all(row.error is None for row in rows) or condition.startswith("A4"), [row.error for row in rows]


@pytest.mark.parametrize(("condition", "mode", "compression"), [("G4", "1", "group4"), ("LZW", "L", "tiff_lzw")])
def test_multi_page_tiffs_keep_their_pages_and_compression(condition, mode, compression, mnist_small):
    name = next(name for name in scan_documents.DOCUMENTS if "TIFF" in name and condition in name)
    with Image.open(io.BytesIO(_document(name, mnist_small, pages=3, index=2))) as image:
        assert image.n_frames == 3
        for frame in range(3):
            image.seek(frame)
            assert image.info["compression"] == compression
            assert image.mode in (mode, "RGB")


def test_a4_page_holds_a_digit_3_to_6_percent_of_its_height(mnist_small):
    name = next(name for name in scan_documents.DOCUMENTS if name.startswith("A4"))
    pixels = first_page(_document(name, mnist_small, pages=1))
    assert pixels.shape == (3508, 2480)
    rows = np.flatnonzero((pixels < 0.5).any(axis=1))
    assert 0.03 * 3508 * 0.8 <= rows[-1] - rows[0] + 1 <= 0.06 * 3508  # an MNIST digit fills 80-100% of its box


def test_heic_photos_are_heif_in_colour(mnist_small):
    name = next(name for name in scan_documents.DOCUMENTS if name.startswith("HEIC"))
    data = _document(name, mnist_small, pages=1)
    assert format_of(data) is HEIF
    assert first_page(data).ndim == 3


def test_documents_are_seeded_take_the_conditions_in_turn_and_the_pool_in_order(mnist_small):
    pool = mnist_small["x_test"][:40]
    first = list(scan_documents.document_files(pool, 7, seed=3))
    assert first[:2] == list(scan_documents.document_files(pool, 2, seed=3))  # the scanned PDFs carry no save time
    names = list(scan_documents.DOCUMENTS)
    assert [document.condition for document in first] == [*names, names[0]]
    positions = [position for document in first for position in document.digits]
    assert positions == list(range(len(positions)))


def test_the_benchmark_scores_each_page_against_its_own_digit(mnist_small, tmp_path):
    images, labels = mnist_small["x_test"], mnist_small["y_test"]
    settings = bench_scans.BenchSettings(digits=5, documents=2, seed=0)  # a 3-page scanned PDF, a 3-page vector one
    samples = bench_scans.write_documents(images, labels, settings, tmp_path)
    prepared, seconds = bench_scans.read_samples(samples)
    assert [sample.page for sample in samples] == [1, 2, 3, 1, 2, 3]
    assert [sample.mnist for sample in samples] == list(range(5, 11))
    assert [row.page for row in prepared] == [sample.page for sample in samples]
    assert len(seconds) == len(samples) and (seconds > 0).all()
    truth = normalise_digits(images[5:11]).reshape(6, -1)
    read = np.stack([row.digit for row in prepared]).reshape(6, -1)
    similarity = np.corrcoef(read, truth)[:6, 6:]
    assert (similarity.argmax(axis=1) == np.arange(6)).all(), similarity.round(2)


def test_scanned_pdfs_do_not_carry_the_time_they_were_made(mnist_small, monkeypatch):
    name = next(name for name in scan_documents.DOCUMENTS if name.startswith("PDF scanned"))
    now = _document(name, mnist_small, pages=1)
    real_gmtime = time.gmtime
    monkeypatch.setattr(time, "gmtime", lambda seconds=None: real_gmtime(2e9 if seconds is None else seconds))
    assert _document(name, mnist_small, pages=1) == now  # Pillow stamps time.gmtime() unless told a date
