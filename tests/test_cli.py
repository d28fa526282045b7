"""The `digitwatch` command as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import SMALL_MNIST, TENSORFLOW, save_digit_png
from watcher.cli import app

TIMEOUT = 240  # seconds: TensorFlow alone takes ~4 s to import on two cores


def run(exe, *args, env_extra=None, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd)


def read_csv_text(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_help_lists_every_command(digitwatch_exe):
    result = run(digitwatch_exe, "--help")
    assert result.returncode == 0
    for command in ("watch", "classify", "train", "evaluate", "convert", "status"):
        assert command in result.stdout


def test_version_is_the_installed_distributions(digitwatch_exe):
    import watcher

    result = run(digitwatch_exe, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"digitwatch {importlib.metadata.version('digitwatch')}\n"
    assert watcher.__version__ == importlib.metadata.version("digitwatch")


# Commands whose own modules still leave typer to name an option's value by its Python type (<file>, {paths}).


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["watch"],
        ["classify"],
        ["train"],
        ["evaluate"],
        ["convert"],
        ["status"],
    ],
    ids=lambda command: " ".join(command) or "digitwatch",
)
def test_help_reads_well_at_80_columns(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    too_wide = [line for line in result.output.splitlines() if len(line) > 80]
    assert not too_wide and "\u2026" not in result.output, "cut or too wide at 80 columns"
    placeholders = re.findall(r"<[^<>\s]+>|\{\w+\}|list\[", result.output)  # <bool>, <file>, {paths}, list[Path]
    assert not placeholders, f"type placeholders in the help: {placeholders}"


@pytest.mark.parametrize(
    "command, options",
    [
        ("classify", ["--results", "--model", "DIGITWATCH_RESULTS", "DIGITWATCH_MODEL"]),
        ("train", ["--data", "--epochs", "--output", "--seed", "DIGITWATCH_DATA"]),
        ("evaluate", ["--data", "--model", "DIGITWATCH_DATA", "DIGITWATCH_MODEL"]),
        ("watch", ["--inbox", "--results", "--model", "DIGITWATCH_INBOX"]),
    ],
)
def test_each_command_documents_its_options(command, options):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in options:
        assert option in result.output


def test_classify_folder_prints_csv_with_relative_names(digitwatch_exe, served_model_path, tmp_path, digit_files):
    files = digit_files(20, tmp_path / "scans" / "batch1")
    (tmp_path / "scans" / "notes.txt").write_text("not an image")
    result = run(digitwatch_exe, "classify", tmp_path / "scans", "--model", served_model_path)
    assert result.returncode == 0, result.stderr
    table = read_csv_text(result.stdout)
    assert list(table.columns[:5]) == ["filename", "digit", "confidence", "status", "processed_at"]
    assert sorted(table["filename"]) == sorted(f"batch1/{path.name}" for path, _ in files)
    labels = {f"batch1/{path.name}": str(label) for path, label in files}
    correct = sum(labels[name] == digit for name, digit in zip(table["filename"], table["digit"], strict=True))
    assert correct >= 15


def test_classify_appends_to_results_with_header_once(digitwatch_exe, served_model_path, tmp_path, digit_files):
    files = digit_files(5)
    results = tmp_path / "out" / "results.csv"
    results.parent.mkdir()
    for _ in range(2):
        paths = [p for p, _ in files]
        result = run(digitwatch_exe, "classify", *paths, "--results", results, "--model", served_model_path)
        assert result.returncode == 0, result.stderr
        assert "5 files classified" in result.stderr
    text = results.read_text(encoding="utf-8")
    assert text.count("filename,digit,confidence") == 1
    assert len(pd.read_csv(results)) == 10


def test_model_and_results_come_from_environment(digitwatch_exe, served_model_path, tmp_path, digit_files):
    files = digit_files(3)
    results = tmp_path / "env.csv"
    result = run(
        digitwatch_exe,
        "classify",
        files[0][0],
        env_extra={"DIGITWATCH_MODEL": str(served_model_path), "DIGITWATCH_RESULTS": str(results)},
    )
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(results)) == 1


def test_classify_awkward_file_names(digitwatch_exe, served_model_path, tmp_path, mnist_small):
    names = ["=cmd|calc.png", 'comma, quote " name.png', "数字 ٣.png", "-minus.png", "line\nbreak.png"]
    folder = tmp_path / "awkward"
    for i, name in enumerate(names):
        save_digit_png(mnist_small["x_test"][i], folder / name)
    result = run(digitwatch_exe, "classify", folder, "--model", served_model_path)
    assert result.returncode == 0, result.stderr
    cells = list(read_csv_text(result.stdout)["filename"])
    from watcher.results.schema import unneutralise

    assert sorted(unneutralise(cell) for cell in cells) == sorted(names)
    assert "'=cmd|calc.png" in cells and "'-minus.png" in cells


def test_bad_model_file_is_a_message_not_a_traceback(digitwatch_exe, tmp_path, digit_files):
    files = digit_files(1)
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a model")
    result = run(digitwatch_exe, "classify", files[0][0], "--model", bogus)
    assert result.returncode == 1
    assert "Error:" in result.stderr and "not a usable Keras model" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_path(digitwatch_exe, served_model_path, tmp_path):
    result = run(digitwatch_exe, "classify", tmp_path / "nowhere", "--model", served_model_path)
    assert result.returncode == 1
    assert "no such file or folder" in result.stderr


@pytest.mark.slow
def test_train_one_epoch_writes_every_artifact(digitwatch_exe, tmp_path):
    output = tmp_path / "models" / "small.keras"
    # 200 synthetic non-digits, 100 redrawn digits and one network instead of thousands and two: every step of
    # the recipe runs, in less time (test_training_data checks the averaging of networks).
    result = run(
        digitwatch_exe,
        "train",
        "--data",
        SMALL_MNIST,
        "--epochs",
        "1",
        "--negatives",
        "200",
        "--variants",
        "100",
        "--members",
        "1",
        "--output",
        output,
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert "MNIST test accuracy" in result.stdout
    noise = ("oneDNN", "cpu_feature_guard", "absl", "Assets written", "SavedModel")  # TensorFlow's start-up and export
    assert not [line for line in result.stderr.splitlines() if any(word in line for word in noise)], result.stderr
    for suffix in (".keras", ".tflite", ".meta.json", ".metrics.json", ".curves.png", ".confusion.png"):
        assert (tmp_path / "models" / f"small{suffix}").is_file(), suffix
    meta = json.loads((tmp_path / "models" / "small.meta.json").read_text())
    assert meta["input_shape"] == [28, 28, 1] and meta["classes"] == [str(d) for d in range(10)]
    assert 0 < meta["test_accuracy"] <= 1 and meta["temperature"] > 0 and len(meta["dataset_sha256"]) == 64
    assert meta["seed"] == 3 and meta["versions"]["keras"].startswith("3")
    assert (meta["negatives"], meta["variants"], meta["members"]) == (200, 100, 1)
    evaluated = run(digitwatch_exe, "evaluate", "--data", SMALL_MNIST, "--model", output)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy:" in evaluated.stdout


@TENSORFLOW
def test_train_without_network_says_to_pass_data(monkeypatch, tmp_path):
    import keras.datasets.mnist

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.delenv("DIGITWATCH_DATA", raising=False)
    result = CliRunner().invoke(app, ["train", "--output", str(tmp_path / "m.keras")])
    assert result.exit_code == 1
    assert "--data" in result.output


def test_train_defaults_are_the_recipe():
    """The CLI writes the recipe's defaults out (it imports nothing from train/ at start-up); they must agree."""
    from train import DEFAULT_EPOCHS, DEFAULT_MEMBERS, DEFAULT_NEGATIVES, DEFAULT_TYPESET, DEFAULT_VARIANTS
    from watcher.commands import train as train_cli

    names = ("DEFAULT_EPOCHS", "DEFAULT_NEGATIVES", "DEFAULT_VARIANTS", "DEFAULT_TYPESET", "DEFAULT_MEMBERS")
    recipe = [DEFAULT_EPOCHS, DEFAULT_NEGATIVES, DEFAULT_VARIANTS, DEFAULT_TYPESET, DEFAULT_MEMBERS]
    assert [getattr(train_cli, name) for name in names] == recipe


def test_train_refuses_output_that_is_not_keras(tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(SMALL_MNIST), "--output", str(tmp_path / "m.h5")])
    assert result.exit_code == 1
    assert ".keras" in result.output


@pytest.mark.slow
def test_shipped_model_reads_all_mnist_test_digits_saved_as_png(digitwatch_exe, full_mnist_path, tmp_path):
    """The foundation's promise: >= 99.6% on the 10,000 test digits as PNG files, default model."""
    with np.load(full_mnist_path) as archive:
        images, labels = archive["x_test"], archive["y_test"]
    folder = tmp_path / "mnist_png"
    folder.mkdir()
    for i, image in enumerate(images):
        save_digit_png(image, folder / f"{i:05d}.png", invert=False)
    result = run(digitwatch_exe, "classify", folder)
    assert result.returncode == 0, result.stderr
    table = read_csv_text(result.stdout)
    predicted = table.set_index("filename")["digit"]
    truth = {f"{i:05d}.png": str(label) for i, label in enumerate(labels)}
    accuracy = np.mean([predicted[name] == digit for name, digit in truth.items()])
    print(f"shipped model on 10,000 MNIST test PNGs: {accuracy:.4f}")
    assert accuracy >= 0.996


def test_classify_reads_a_folder_by_watchs_rules_and_says_what_it_skipped(
    digitwatch_exe, served_model_path, tmp_path, digit_files
):
    folder = tmp_path / "scans"
    (path, _), (other, _) = digit_files(2, folder)
    data = path.read_bytes()
    for name in ("~$lock.png", "@eaDir/x.png", ".hidden/y.png", "half.png.part", "notes.txt", ".DS_Store"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    results = tmp_path / "r.csv"
    result = run(digitwatch_exe, "classify", folder, "--results", results, "--model", served_model_path)
    assert result.returncode == 0, result.stderr
    assert sorted(pd.read_csv(results)["filename"]) == sorted([path.name, other.name])
    assert "2 files classified" in result.stderr
    assert (
        "skipped in the folders: 2 hidden or system folder, 1 not an image name, "
        "3 temporary, lock or ignored file" in result.stderr
    ), result.stderr


def test_classify_skips_links_leading_out_of_the_folder(digitwatch_exe, served_model_path, tmp_path, digit_files):
    folder = tmp_path / "scans"
    (path, _), (outside, _) = digit_files(1, folder)[0], digit_files(2, tmp_path / "elsewhere")[1]
    (folder / "link-in.png").symlink_to(path)  # a link to a file inside: read
    (folder / "link-out.png").symlink_to(outside)  # a link to a file outside: not ours
    (folder / "sub").mkdir()
    (folder / "sub" / "deep-out.png").symlink_to(outside)
    results = tmp_path / "r.csv"
    result = run(digitwatch_exe, "classify", folder, "--results", results, "--model", served_model_path)
    assert result.returncode == 0, result.stderr
    assert sorted(pd.read_csv(results)["filename"]) == sorted([path.name, "link-in.png"])
    assert "skipped in the folders: 2 symbolic link leading out of the folder" in result.stderr, result.stderr


def test_classify_gives_an_image_over_pillows_limit_our_reason_with_its_size(
    digitwatch_exe, served_model_path, tmp_path, digit_files
):
    from service_helpers import bomb_png

    digit_files(1, tmp_path / "scans")
    bomb_png(tmp_path / "scans" / "poster.png", side=20_000)  # 400 megapixels: Pillow refuses it by itself
    result = run(digitwatch_exe, "classify", tmp_path / "scans", "--model", served_model_path)
    assert result.returncode == 0, result.stderr
    rows = read_csv_text(result.stdout).set_index("filename")
    assert rows.loc["poster.png", "status"] == "error"
    assert rows.loc["poster.png", "detail"] == "image too large: 20000x20000 pixels (limit 40,000,000)"
    assert rows.loc["digit_0000.png", "status"] != "error"
