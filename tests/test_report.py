"""`digitwatch report`: the page of charts and counts, through the installed console script."""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner, Result

from watcher.cli import app
from watcher.results import COLUMNS

HOSTILE = "<script>alert(1)</script> cannot be decoded"


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
    return subprocess.run([exe, "report", *map(str, args)], capture_output=True, text=True, timeout=120)


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

    def report_in_process(out: Path) -> Result:
        return CliRunner().invoke(app, ["report", "--results", str(results), "--out", str(out)])

    done = report_in_process(mine)
    assert done.exit_code == 1 and "not a digitwatch report" in done.output
    assert mine.read_text() == "<html>my notes</html>"
    out = tmp_path / "report.html"
    assert report_in_process(out).exit_code == 0
    results.write_text(",".join(COLUMNS) + "\r\n")  # emptied: the page says so
    assert report_in_process(out).exit_code == 0
    assert "No rows yet." in out.read_text(encoding="utf-8")
    assert oct(out.stat().st_mode & 0o777) != oct(0o600), "readable by others as any file written by open()"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
