"""`digitwatch train --corrections`: corrected files found again, checked, and learnt from."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import TENSORFLOW
from train.corrected import NOT_A_DIGIT_LABEL, Skip, gather
from train.data import SHIPPED_REPLAY, ReplaySource
from watcher.cli import app
from watcher.protocol import NOT_A_DIGIT
from watcher.results.corrections import Correction, CorrectionsFile

pytestmark = TENSORFLOW  # fine-tuning runs in this process

SMALL_MNIST = Path(__file__).parent / "data" / "mnist_small.npz"


def scanned(path: Path, digit: np.ndarray) -> str:
    """Write an MNIST digit as a scan (dark ink on white, 3x larger); return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - digit).resize((84, 84)).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gather_finds_each_corrected_file_checks_its_content_and_counts_what_it_skips(
    tmp_path: Path, mnist_small: dict[str, np.ndarray]
) -> None:
    digits = mnist_small["x_test"]
    inbox, processed = tmp_path / "inbox", tmp_path / "processed"
    writer = CorrectionsFile(tmp_path / "corrections.csv")
    first = scanned(inbox / "a.png", digits[0])
    writer.append(Correction("a.png", "3", sha256=first))
    writer.append(Correction("a.png", "5", sha256=first))  # the last correction wins
    writer.append(Correction("b.png", "1", sha256="0" * 64))  # b.png holds other content now
    scanned(inbox / "b.png", digits[1])
    writer.append(Correction("gone.png", "2"))  # deleted since
    moved = scanned(processed / "c.png", digits[2])  # moved out of the inbox after its row
    writer.append(Correction("c.png", "7", sha256=moved))
    Image.fromarray(np.full((60, 60), 255, np.uint8)).save(inbox / "blank.png")
    writer.append(Correction("blank.png", NOT_A_DIGIT))
    pages = [Image.fromarray(255 - digits[i]).resize((84, 84)) for i in (3, 4)]
    pages[0].save(inbox / "form.tif", save_all=True, append_images=pages[1:])
    writer.append(Correction("form.tif", NOT_A_DIGIT, page=2))
    writer.append(Correction("../escape.png", "4"))  # names outside the folders are looked for nowhere
    scanned(tmp_path / "escape.png", digits[5])

    corrected = gather(tmp_path / "corrections.csv", (inbox, processed))

    assert corrected.names == ["a.png", "c.png", "form.tif page 2"]
    assert corrected.labels.tolist() == [5, 7, NOT_A_DIGIT_LABEL]
    assert corrected.images.shape == (3, 28, 28, 1) and corrected.images.max() == pytest.approx(1.0)
    assert dict(corrected.skipped) == {Skip.CHANGED: 1, Skip.MISSING: 2, Skip.NO_INK: 1}
    assert corrected.corrections_sha256 == hashlib.sha256((tmp_path / "corrections.csv").read_bytes()).hexdigest()


@pytest.fixture
def corrected_office(tmp_path: Path, mnist_small: dict[str, np.ndarray]) -> tuple[Path, Path]:
    """30 corrected scans, one correction of a file since deleted: (corrections, inbox)."""
    inbox = tmp_path / "inbox"
    writer = CorrectionsFile(tmp_path / "corrections.csv")
    for index in range(30):
        digest = scanned(inbox / f"f{index}.png", mnist_small["x_test"][index])
        writer.append(Correction(f"f{index}.png", str(mnist_small["y_test"][index]), sha256=digest))
    writer.append(Correction("deleted.png", "3"))
    return tmp_path / "corrections.csv", inbox


@pytest.mark.slow
def test_train_with_corrections_fine_tunes_and_records_what_it_learnt(
    corrected_office: tuple[Path, Path], tiny_model_path: Path, tmp_path: Path
) -> None:
    import keras

    corrections, inbox = corrected_office
    output = tmp_path / "tuned" / "tuned.keras"
    args = ["train", "--corrections", corrections, "--images", inbox, "--base", tiny_model_path]
    result = CliRunner().invoke(
        app, [*map(str, args), "--data", str(SMALL_MNIST), "--output", str(output), "--epochs", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "learnt from 24 corrections, 6 held out" in result.output
    assert "1 file not found in the image folders" in result.output
    assert f"MNIST digits from {SMALL_MNIST}:" in result.output, "--data is used in place of the shipped digits"
    assert output.is_file() and output.with_suffix(".tflite").is_file()
    meta = json.loads((tmp_path / "tuned" / "tuned.meta.json").read_text())
    tuned = meta["fine_tuned"]
    assert tuned["corrections_sha256"] == hashlib.sha256(corrections.read_bytes()).hexdigest()
    assert (tuned["learnt_from"], tuned["held_out"], tuned["skipped"]) == (24, 6, {Skip.MISSING: 1})
    assert (tuned["replay_source"], tuned["replay_data"]) == (ReplaySource.DATA, str(SMALL_MNIST))
    assert (tuned["replayed"], tuned["calibrated_on"], tuned["mnist_tested_on"]) == (800, 200, 1000)
    assert 0 <= tuned["held_out_accuracy_after"] <= 1 and 0 < tuned["mnist_test_accuracy_after"] <= 1
    assert meta["temperature"] > 0 and 0.5 <= meta["uncertain_below"] <= 0.99
    base, new = keras.models.load_model(tiny_model_path), keras.models.load_model(output)
    changed = [not np.allclose(a, b) for a, b in zip(base.get_weights(), new.get_weights(), strict=True)]
    assert all(changed), "every trainable weight moves when the model learns"


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make fetching MNIST impossible: Keras's loader (a cached copy too) and every socket connection raise.

    Returns the attempts, so a test can say none was made as well as that it succeeded.
    """
    import keras

    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def refused(*args: object, **kwargs: object) -> None:
            attempts.append(what)
            raise OSError(f"no network in this test: {what} refused")

        return refused

    monkeypatch.setattr(keras.datasets.mnist, "load_data", refuse("keras.datasets.mnist.load_data"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    return attempts


@pytest.mark.slow
def test_train_with_corrections_and_no_data_fine_tunes_offline_on_the_shipped_digits(
    corrected_office: tuple[Path, Path], tiny_model_path: Path, tmp_path: Path, no_download: list[str]
) -> None:
    import keras

    corrections, inbox = corrected_office
    output = tmp_path / "tuned" / "tuned.keras"
    args = ["train", "--corrections", corrections, "--images", inbox, "--base", tiny_model_path, "--output", output]
    result = CliRunner().invoke(app, [*map(str, args), "--epochs", "1"], env={"DIGITWATCH_DATA": None})

    assert result.exit_code == 0, result.output
    assert no_download == [], "nothing was fetched"
    assert "MNIST digits shipped with digitwatch" in result.output
    assert "6,000 training digits replayed, 2,000 calibrated on, 2,000 test digits measured on" in result.output
    assert "learnt from 24 corrections, 6 held out" in result.output and "MNIST test (2,000 digits)" in result.output
    tuned = json.loads((tmp_path / "tuned" / "tuned.meta.json").read_text())["fine_tuned"]
    assert (tuned["replay_source"], tuned["replay_data"]) == (ReplaySource.SHIPPED, str(SHIPPED_REPLAY))
    assert (tuned["replayed"], tuned["calibrated_on"], tuned["mnist_tested_on"]) == (6000, 2000, 2000)
    assert 0.5 < tuned["mnist_test_accuracy_before"] <= 1 and 0.5 < tuned["mnist_test_accuracy_after"] <= 1
    base, new = keras.models.load_model(tiny_model_path), keras.models.load_model(output)
    assert all(not np.allclose(a, b) for a, b in zip(base.get_weights(), new.get_weights(), strict=True))


def test_too_few_usable_corrections_stop_with_what_to_check(
    tmp_path: Path, tiny_model_path: Path, mnist_small: dict[str, np.ndarray]
) -> None:
    writer = CorrectionsFile(tmp_path / "corrections.csv")
    for index in range(3):
        digest = scanned(tmp_path / "inbox" / f"f{index}.png", mnist_small["x_test"][index])
        writer.append(Correction(f"f{index}.png", "1", sha256=digest))
    args = ["train", "--corrections", tmp_path / "corrections.csv", "--images", tmp_path / "inbox"]
    result = CliRunner().invoke(
        app, [*map(str, args), "--base", str(tiny_model_path), "--output", str(tmp_path / "m.keras")]
    )
    assert result.exit_code == 1
    assert "3 usable corrections" in result.output and "at least 20" in result.output and "--images" in result.output
    assert not (tmp_path / "m.keras").exists()
