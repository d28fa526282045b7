"""`digitwatch report`: the page of charts and counts, through the installed console script and CliRunner."""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner, Result

from review_helpers import write_checked_files
from watcher.cli import app
from watcher.results.schema import COLUMNS

HOSTILE = "<script>alert(1)</script> cannot be decoded"
AGREEMENT_ROW = re.compile(
    r'<tr data-status="(\w+)" data-why="([\w ]+)">.*?<td>(\d+)</td><td>(\d+)</td><td>([^<]+)</td>', re.S
)  # status, why queued, checked, model right, agreement


def results_over_two_days(path: Path) -> None:
    rows = [
        ["a.png", "3", "0.9900", "ok", "2026-12-01T09:00:00.000Z", "", "h1", ""],
        ["b.png", "5", "0.5100", "uncertain", "2026-12-01T09:30:00.000Z", "confidence under 0.76", "h2", ""],
        ["c.png", "", "", "no_digit", "2026-12-01T10:00:00.000Z", "no ink: the image is blank or too faint", "h3", ""],
        ["d.png", "", "", "error", "2026-12-02T08:00:00.000Z", HOSTILE, "h4", ""],
        ["e.pdf", "7", "0.9990", "ok", "2026-12-02T08:05:00.000Z", "", "h5", "1"],
        ["e.pdf", "1", "0.9700", "ok", "2026-12-02T08:05:00.000Z", "", "h5", "2"],
        ["f.png", "", "", "error", "2026-12-02T09:00:00.000Z", HOSTILE, "h6", ""],
    ]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def report(exe: str, *args: object) -> subprocess.CompletedProcess[str]:
    """The installed console script, as users run it."""
    return subprocess.run([exe, "report", *map(str, args)], capture_output=True, text=True, timeout=120)


def report_in_process(*args: object) -> Result:
    """The same command through CliRunner: the page's content without a process start (matplotlib's import
    alone is a second of CPU); the first test runs the installed script."""
    return CliRunner().invoke(app, ["report", *map(str, args)])


def test_report_counts_charts_and_escaped_reasons(tmp_path: Path, digitwatch_exe: str) -> None:
    results = tmp_path / "results" / "predictions.csv"
    results.parent.mkdir()
    results_over_two_days(results)
    done = report(digitwatch_exe, "--results", results)
    assert done.returncode == 0, done.stderr
    assert "7 rows for 6 files" in done.stderr
    page = (results.parent / "report.html").read_text(encoding="utf-8")
    counts = dict(re.findall(r'<div class="(\w+)"><strong>(\d+)</strong>', page))
    assert counts == {"ok": "3", "uncertain": "1", "no_digit": "1", "error": "2"}
    charts = re.findall(r'<img id="(\w+)" alt="\w+" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in charts] == ["by_day", "digits", "confidence", "throughput"]
    for _, data in charts:
        assert Image.open(io.BytesIO(base64.b64decode(data))).size == (640, 360)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; cannot be decoded</td><td>2<" in page
    assert "no ink: the image is blank or too faint</td><td>1<" in page


def test_report_writes_over_its_own_page_only(tmp_path: Path) -> None:
    results = tmp_path / "predictions.csv"
    results_over_two_days(results)
    mine = tmp_path / "mine.html"
    mine.write_text("<html>my notes</html>")
    done = report_in_process("--results", results, "--out", mine)
    assert done.exit_code == 1 and "not a digitwatch report" in done.output
    assert mine.read_text() == "<html>my notes</html>"
    out = tmp_path / "report.html"
    assert report_in_process("--results", results, "--out", out).exit_code == 0
    results.write_text(",".join(COLUMNS) + "\r\n")  # emptied: the page says so
    assert report_in_process("--results", results, "--out", out).exit_code == 0
    assert "No rows yet." in out.read_text(encoding="utf-8")
    assert oct(out.stat().st_mode & 0o777) != oct(0o600), "readable by others as any file written by open()"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_report_says_what_the_corrections_say_of_the_model(tmp_path: Path) -> None:
    results = tmp_path / "results" / "predictions.csv"
    write_checked_files(results, results.parent / "corrections.csv")  # found beside the results by default
    done = report_in_process("--results", results)
    assert done.exit_code == 0, done.output
    from scipy.stats import binomtest  # here: scipy.stats is a second of every test worker's start

    interval = binomtest(3, 200).proportion_ci(method="wilson")  # computed apart from digitwatch's own formula
    low, high = f"{100 * interval.low:.2f}%", f"{100 * interval.high:.2f}%"
    assert (low, high) == ("0.51%", "4.32%")
    estimate = f"spot checks: 3 of 200 sure ok rows wrong, 1.50% (95% interval {low} to {high})"
    assert f"people checked 257 of 1,257 readings; {estimate}" in done.stderr
    page = (results.parent / "report.html").read_text(encoding="utf-8")
    assert '<strong id="checked-count">257</strong> of 1,257 readings checked' in page
    shown = re.search(r'id="wrong-but-ok">(.*?)</p>', page, re.S)
    assert shown is not None
    assert " ".join(shown[1].split()) == (
        f"3 of 200 spot-checked ok rows were wrong: <strong>1.50%</strong> (95% interval {low} to {high})."
    )
    rows = AGREEMENT_ROW.findall(page)
    assert rows == [
        ("ok", "all", "230", "217", "94.3%"),
        ("ok", "spot check", "200", "197", "98.5%"),
        ("ok", "low confidence", "30", "20", "66.7%"),
        ("uncertain", "all", "20", "12", "60.0%"),
        ("no_digit", "all", "5", "4", "80.0%"),
        ("error", "all", "2", "2", "100.0%"),
    ]
    matrix = confusion_matrix(page)
    assert matrix[0] == ["model \\ person", *map(str, range(10)), "not a digit"]
    assert [row[0] for row in matrix[1:]] == [*map(str, range(10)), "none"]
    cells = {(row[0], matrix[0][col]): int(row[col]) for row in matrix[1:] for col in range(1, 12)}
    assert sum(cells.values()) == 257
    assert (cells["0", "7"], cells["1", "not a digit"], cells["5", "6"], cells["3", "8"]) == (1, 1, 10, 8)
    assert (cells["none", "not a digit"], cells["none", "7"], cells["5", "5"]) == (6, 1, 40)


def confusion_matrix(page: str) -> list[list[str]]:
    """The confusion table's cells as text, header row first."""
    table = re.search(r'<table id="confusion".*?</table>', page, re.S)
    assert table is not None
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table[0], re.S)]


def test_report_without_corrections_says_none_yet(tmp_path: Path) -> None:
    results = tmp_path / "predictions.csv"
    results_over_two_days(results)
    done = report_in_process("--results", results, "--corrections", tmp_path / "nobody-yet.csv")
    assert done.exit_code == 0, done.output
    assert "people checked 0 of 7 readings; no spot checks yet" in done.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"<p>None yet: no correction in {tmp_path / 'nobody-yet.csv'} matches a row of these results.</p>" in page
    assert 'id="confusion"' not in page
    (tmp_path / "notes.csv").write_text("who,what\r\nann,lunch\r\n")
    refused = report_in_process("--results", results, "--corrections", tmp_path / "notes.csv")
    assert refused.exit_code == 1 and "is not a corrections file" in refused.stderr
