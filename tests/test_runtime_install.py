"""The runtime install: without the `train` extra, the service and `classify` work and training says what to install.

`pip install digitwatch` has no TensorFlow, Keras or matplotlib. Rather than
build a second environment in every run, these tests run the installed
console script with those three made unimportable (a `sitecustomize` on
PYTHONPATH refuses them), which is what Python sees where they were never
installed; `benchmarks/bench_install.py` checks a real fresh install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from service_helpers import read_rows
from watcher.model.backends import TRAIN_EXTRA
from watcher.model.classifier import default_model_path
from watcher.report.build import REPORT_EXTRA
from watcher.review.server import REVIEW_EXTRA

# The `train` extra's, the `review` and `report` extras' (FastAPI, uvicorn, Jinja2, matplotlib), and the
# `spark` extra's (pyspark, pyarrow).
NOT_INSTALLED = ("tensorflow", "keras", "matplotlib", "fastapi", "uvicorn", "jinja2", "pyspark", "pyarrow")
BLOCKER = f'''
import importlib.abc
import sys


class NotInstalled(importlib.abc.MetaPathFinder):
    """Refuse the `train` extra's packages, as Python does where they were never installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {NOT_INSTALLED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
'''


@pytest.fixture
def runtime_env(tmp_path) -> dict[str, str]:
    """An environment in which the console script cannot import TensorFlow, Keras or matplotlib."""
    folder = tmp_path / "no_train_extra"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_the_blocker_blocks(runtime_env, digitwatch_exe):
    """Guard for the tests below: in this environment Keras truly cannot be imported."""
    python = Path(digitwatch_exe).parent / "python"
    result = run(runtime_env, str(python), "-c", "import keras")
    assert result.returncode != 0 and "No module named 'keras'" in result.stderr


def test_a_keras_model_without_its_tflite_says_what_to_install(runtime_env, digitwatch_exe, tmp_path, digit_files):
    model = tmp_path / "mine.keras"
    shutil.copy2(default_model_path(), model)  # no .tflite beside it: only Keras could run it
    files = digit_files(1)
    result = run(runtime_env, digitwatch_exe, "classify", str(files[0][0]), "--model", str(model))
    assert result.returncode != 0
    assert TRAIN_EXTRA in result.stderr and f"digitwatch convert {model}" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_says_what_to_install_before_it_starts(runtime_env, digitwatch_exe, tmp_path):
    output = tmp_path / "new.keras"
    data = Path(__file__).parent / "data" / "mnist_small.npz"
    result = run(runtime_env, digitwatch_exe, "train", "--data", str(data), "--epochs", "1", "--output", str(output))
    assert result.returncode == 1
    assert TRAIN_EXTRA in result.stderr and "Traceback" not in result.stderr
    assert not output.exists()


def test_evaluate_runs_on_the_runtime_install(runtime_env, digitwatch_exe, mnist_small, tmp_path):
    data = tmp_path / "mnist_200.npz"  # what is checked is that it runs without TensorFlow: 200 digits will do
    np.savez(data, **{name: array[:200] for name, array in mnist_small.items()})
    result = run(runtime_env, digitwatch_exe, "evaluate", "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert "MNIST test digits: 200" in result.stdout and "accuracy:" in result.stdout, result.stdout


def test_classify_needs_no_tensorflow_the_pages_say_what_to_install_and_export_works(
    runtime_env, digitwatch_exe, tmp_path, digit_files
):
    """One classify run makes the results the other commands are tried on (each run of the script is a start)."""
    files = digit_files(6)
    results = tmp_path / "results.csv"
    result = run(runtime_env, digitwatch_exe, "classify", str(files[0][0].parent), "--results", str(results))
    assert result.returncode == 0, result.stderr
    rows = read_rows(results)
    assert sorted(zip(rows["filename"], rows["digit"].astype(int), strict=True)) == sorted(
        (path.name, label) for path, label in files
    )
    for command, extra in (("review", REVIEW_EXTRA), ("report", REPORT_EXTRA)):
        result = run(runtime_env, digitwatch_exe, command, "--results", str(results))
        assert result.returncode == 1, result.stderr
        assert extra in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report.html").exists()
    result = run(runtime_env, digitwatch_exe, "export", "--results", str(results), "--out", str(tmp_path / "final.csv"))
    assert result.returncode == 0, result.stderr
    assert len(read_rows(tmp_path / "final.csv")) == 6


def test_the_spark_engine_and_parquet_export_say_what_to_install(runtime_env, digitwatch_exe, tmp_path):
    (tmp_path / "in").mkdir()
    result = run(
        runtime_env, digitwatch_exe, "classify", str(tmp_path / "in"), "--engine", "spark", "--out", str(tmp_path / "o")
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'digitwatch[spark]'" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "o" / "_spark_metadata").mkdir(parents=True)
    result = run(
        runtime_env, digitwatch_exe, "export", "--parquet", str(tmp_path / "o"), "--out", str(tmp_path / "r.csv")
    )
    assert result.returncode == 1, result.stderr
    assert "pip install 'digitwatch[spark]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.csv").exists()
