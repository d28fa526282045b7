"""What the training draws besides MNIST: thick-marker and low-resolution digits, and non-digits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from conftest import TENSORFLOW
from train import negatives, variants
from watcher.reading.imaging import normalise_array

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _normalised(digit: np.ndarray) -> np.ndarray:
    return normalise_array(digit.astype(np.float32) / 255.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("index", range(6))
def test_thick_marker_widens_strokes_and_keeps_the_digit(mnist_small, index):
    digit = mnist_small["x_train"][index]
    plain = _normalised(digit)
    thick = normalise_array(variants.thick(digit, np.random.default_rng(index), widen=3.0))
    # Scaled back to 20 px, the wider pen still lays more ink than the original pen.
    assert thick.sum() > 1.2 * plain.sum()
    assert _correlation(thick, plain) > 0.6


@pytest.mark.parametrize("index", range(6))
def test_low_resolution_digit_is_coarse_and_still_the_digit(mnist_small, index):
    digit = mnist_small["x_train"][index]
    page = variants.low_resolution(digit, np.random.default_rng(index))
    inked = page[:, page.max(axis=0) > 0.05][page.max(axis=1) > 0.05]
    # Scaled up from 7-15 rows: runs of identical or smoothly interpolated rows, far more rows than that.
    assert inked.shape[0] >= 4 * 7
    assert _correlation(normalise_array(page), _normalised(digit)) > 0.5


def test_variants_are_normalised_and_carry_their_sources_labels(mnist_small):
    digits = mnist_small["x_train"][:40]
    drawn, sources = variants.draw_variants(digits, 30, seed=1)
    assert drawn.shape[1:] == (28, 28) and len(drawn) == len(sources) >= 28
    assert np.all(drawn.max(axis=(1, 2)) > 0.99)  # full stroke strength, as the normaliser leaves it
    for image, source in zip(drawn[:5], sources[:5], strict=True):
        assert _correlation(image, _normalised(digits[source])) > 0.4
    again, _ = variants.draw_variants(digits, 30, seed=1)
    np.testing.assert_array_equal(drawn, again)


def test_negatives_are_seeded_and_include_digit_pairs(mnist_small):
    digits = mnist_small["x_train"][:100]
    first = negatives.render_negatives(40, seed=5, digits=digits)
    np.testing.assert_array_equal(first, negatives.render_negatives(40, seed=5, digits=digits))
    pair = np.asarray(negatives._draw_pair(np.random.default_rng(0), digits), np.float32) / 255.0
    normalised = normalise_array(pair)
    columns = np.flatnonzero(normalised.max(axis=0) > 0.1)
    assert columns[-1] - columns[0] >= 18  # two digits side by side: the pair is wider than tall


def _family(path: str | Path) -> str:
    return ImageFont.truetype(str(path), 20).getname()[0]


def test_training_fonts_load_and_none_is_a_benchmark_family():
    """The benchmarks' letters must stay unseen: no font family is shared with training."""
    spec = importlib.util.spec_from_file_location("unseen_fonts", BENCHMARKS / "unseen_fonts.py")
    assert spec and spec.loader
    unseen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unseen)
    training = {_family(path).lower() for path in negatives.font_files()}
    assert len(negatives.font_files()) >= 10 and {"kristi", "humor sans"} <= training
    benchmark = {name.split(" (")[0].lower() for name in unseen.FONT_FILES} | {"dejavu sans", "dejavu serif"}
    assert not training & benchmark, training & benchmark
    # The hairline typefaces of the scan benchmark too, by the family their files name.
    hairline = (BENCHMARKS / "hairline_render.py").read_text(encoding="utf-8")
    faces = {
        line.split('"')[1].split(" (")[0].lower() for line in hairline.splitlines() if '": "/usr/share/fonts' in line
    }
    assert len(faces) >= 6 and "gfs didot" in faces, faces
    assert not {family for family in training for face in faces if face.startswith(family)}, (training, faces)


@TENSORFLOW
def test_an_ensemble_outputs_the_mean_of_its_members_logits():
    from train.fit import ensemble
    from train.model import build_model
    from watcher.model.backends import import_keras_quietly

    keras = import_keras_quietly()
    keras.utils.set_random_seed(4)
    members = [build_model(name=f"member_{index}") for index in range(2)]
    combined = ensemble(members)
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    each = [member.predict(images, verbose=0) for member in members]
    assert not np.allclose(each[0], each[1])  # two different networks, or the test proves nothing
    np.testing.assert_allclose(combined.predict(images, verbose=0), (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-5)


def test_typeset_digits_are_seeded_labelled_and_read_by_the_normaliser():
    from train.typeset import draw_typeset_digits

    images, labels = draw_typeset_digits(200, seed=3)
    again, same_labels = draw_typeset_digits(200, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, same_labels)
    assert images.shape == (200, 28, 28) and images.dtype == np.float32
    assert set(labels.tolist()) == set(range(10))
    # Each is a digit as the service reads one: ink in a 20-px box, centred in the 28x28 field.
    widths = []
    for image in images:
        rows, cols = np.flatnonzero(image.max(axis=1) > 0.1), np.flatnonzero(image.max(axis=0) > 0.1)
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 >= 18
        assert image.max() > 0.9
        widths.append((cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1))
    # And its label is the digit set: a printed 1 is far narrower than a 0.
    widths_of = np.array(widths)
    assert widths_of[labels == 1].mean() < 0.8 * widths_of[labels == 0].mean(), (
        widths_of[labels == 1],
        widths_of[labels == 0],
    )
