"""Options judged by what the user gave, not by their values; and where results go.

`classify` refuses the other engine's options, even at their default values;
`watch` and `classify` refuse a --results in a folder that does not exist.
Each is run as users run it: CliRunner in-process and the console script.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from watcher.cli import app

TIMEOUT = 120  # seconds for one run of the console script


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No DIGITWATCH_* variable from the caller's shell: each test sets the ones it means."""
    for name in [name for name in os.environ if name.startswith("DIGITWATCH_")]:
        monkeypatch.delenv(name)
    yield


def invoke(*args: object, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=env)
    return result.exit_code, result.output


def script(exe: str, *args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGITWATCH_")} | (env or {})
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=environment
    )


# --- classify: each engine refuses the other's options, named as given ------------------------------------------

LOCAL_ONLY = [
    (["--read-timeout", "10"], {}, "--read-timeout"),  # its default value, given
    (["--neutralise-formulas"], {}, "--neutralise-formulas"),  # ditto
    (["--keep-formulas"], {}, "--keep-formulas"),
    (["--results", "r.csv"], {}, "--results"),
    # Set in the environment too (the service's env file sets it): a note, and only the given one is refused.
    (["--read-timeout", "10"], {"DIGITWATCH_NEUTRALISE_FORMULAS": "false"}, "--read-timeout"),
]


@pytest.mark.parametrize(("args", "env", "named"), LOCAL_ONLY, ids=[case[2] for case in LOCAL_ONLY])
def test_the_spark_engine_refuses_each_local_option_given(tmp_path, args, env, named):
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    code, output = invoke("classify", tmp_path / "in", "--engine", "spark", "--out", out, *args, env=env)
    assert code == 2, output
    assert f"Error: {named}: only with the local engine, --engine spark would ignore it; leave it out" in output
    assert not out.exists()
    for variable in env:
        assert f"note: {variable} is set, but --engine spark does not use" in output


SPARK_ONLY = [
    (["--after", "keep"], {}, "--after"),  # each at its default value, given
    (["--interval", "5"], {}, "--interval"),
    (["--no-watch"], {}, "--no-watch"),
    (["--watch"], {}, "--watch"),
    (["--out", "o"], {}, "--out"),
    (["--checkpoint", "c"], {}, "--checkpoint"),
    (["--master", "local[2]"], {}, "--master"),
    (["--max-files-per-trigger", "3"], {}, "--max-files-per-trigger"),
    (["--processed-dir", "p"], {}, "--processed-dir"),
    (["--after", "keep"], {"DIGITWATCH_SPARK_MASTER": "local[2]"}, "--after"),
]


@pytest.mark.parametrize(("args", "env", "named"), SPARK_ONLY, ids=[case[2] for case in SPARK_ONLY])
def test_the_local_engine_refuses_each_spark_option_given(tmp_path, digit_files, args, env, named):
    files = digit_files(1)
    results = tmp_path / "results.csv"
    code, output = invoke("classify", files[0][0], "--results", results, *args, env=env)
    assert code == 2, output
    assert f"Error: {named}: only with --engine spark; add --engine spark, or leave it out" in output
    assert not results.exists()
    for variable in env:
        assert f"note: {variable} is set, but --engine local does not use" in output


def test_all_the_others_options_are_named_at_once_by_the_console_script(digitwatch_exe, tmp_path, digit_files):
    files = digit_files(1)
    done = script(digitwatch_exe, "classify", files[0][0], "--after", "keep", "--no-watch", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--no-watch, --after: only with --engine spark; add --engine spark, or leave them out" in done.stderr
    assert done.stdout == ""  # nothing was classified
    done = script(
        digitwatch_exe,
        *("classify", tmp_path, "--engine", "spark", "--out", tmp_path / "out", "--keep-formulas"),
        cwd=tmp_path,
        env={"DIGITWATCH_RESULTS": str(tmp_path / "r.csv")},
    )
    assert done.returncode == 2, done.stderr
    assert "note: DIGITWATCH_RESULTS is set, but --engine spark does not use --results" in done.stderr
    assert "--keep-formulas: only with the local engine, --engine spark would ignore it; leave it out" in " ".join(
        done.stderr.split()
    )


def test_the_local_engine_takes_every_local_and_shared_option(digitwatch_exe, served_model_path, tmp_path, digit_files):
    files = digit_files(2)
    results = tmp_path / "results.csv"
    done = script(
        digitwatch_exe,
        *("classify", files[0][0].parent, "--engine", "local", "--results", results, "--model", served_model_path),
        *("--read-timeout", 10, "--keep-formulas", "--max-pages", 3),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "2 files classified" in done.stderr


def help_sections(output: str) -> dict[str, list[str]]:
    """Each section title of a --help, with the options listed under it."""
    sections: dict[str, list[str]] = {}
    title = ""
    for line in output.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            sections[title] = []
        elif title:
            sections[title] += re.findall(r"^  (--[\w-]+)", line)
    return sections


def test_classify_help_lists_each_engines_options_in_its_own_section():
    code, output = invoke("classify", "--help", env={"COLUMNS": "80"})
    assert code == 0, output
    sections = help_sections(output)
    assert sections["Options"] == ["--engine", "--model", "--max-pages", "--help"]
    assert sections["Local engine (the default)"] == ["--results", "--neutralise-formulas", "--read-timeout"]
    assert sections["Spark engine (--engine spark)"] == [
        *("--out", "--checkpoint", "--master", "--watch", "--interval", "--max-files-per-trigger", "--after"),
        "--processed-dir",
    ]


# --- --results in a folder that does not exist: refused, not created -------------------------------------------


def refused_for_a_missing_folder(done: subprocess.CompletedProcess[str], folder: Path) -> None:
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())  # click wraps long messages
    assert "Invalid value for '--results'" in message
    assert f"folder {folder} does not exist" in message
    assert "create it, or check that the share is mounted" in message
    assert "Traceback" not in done.stderr
    assert not folder.exists()


def test_watch_refuses_results_in_a_missing_folder_and_creates_nothing(digitwatch_exe, tmp_path):
    (tmp_path / "inbox").mkdir()
    share = tmp_path / "share" / "results"  # an unmounted share: its mount point is missing
    done = script(
        digitwatch_exe, "watch", "--inbox", "inbox", "--results", share / "predictions.csv", "--once", cwd=tmp_path
    )
    refused_for_a_missing_folder(done, share)
    assert not (tmp_path / "share").exists()


def test_classify_refuses_results_in_a_missing_folder_given_by_option_or_variable(
    digitwatch_exe, tmp_path, digit_files
):
    files = digit_files(1)
    typo = tmp_path / "reslts"
    done = script(digitwatch_exe, "classify", files[0][0], "--results", typo / "out.csv", cwd=tmp_path)
    refused_for_a_missing_folder(done, typo)
    done = script(digitwatch_exe, "classify", files[0][0], cwd=tmp_path, env={"DIGITWATCH_RESULTS": "reslts/out.csv"})
    refused_for_a_missing_folder(done, typo)
    assert done.stdout == ""


def test_results_beside_a_file_is_refused_in_process(tmp_path, digit_files):
    files = digit_files(1)
    code, output = invoke("classify", files[0][0], "--results", files[0][0] / "out.csv")
    assert code == 2, output
    assert f"{files[0][0]} is not a folder" in " ".join(output.split())


def test_watch_still_creates_the_default_results_folder(digitwatch_exe, served_model_path, tmp_path, digit_files):
    digit_files(1, tmp_path / "inbox")
    done = script(digitwatch_exe, "watch", "--once", "--model", served_model_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "predictions.csv").read_text().count("\n") == 2  # the header and one row
