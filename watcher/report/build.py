"""`digitwatch report`: one HTML page a clerk would rather look at than read, from the results CSV.

Counts by status and day, the digits read, the confidences, why files were
refused, and the rows written per hour; then, from the corrections, how often
people agreed with the model and how often its sure answers are wrong (see
`watcher.report.agreement`). Charts are drawn with matplotlib and embedded in
the page, so the one file can be mailed or archived.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from watcher.atomic import write_atomically
from watcher.model.backends import ExtraMissing
from watcher.protocol import NOT_A_DIGIT, Status
from watcher.report.agreement import ANSWERS, Agreement, agreement
from watcher.results.corrections import read_corrections
from watcher.results.reader import read_results
from watcher.review.spot import Why
from watcher.settings import ReportSettings

REPORT_EXTRA = "pip install 'digitwatch[report]'"  # what adds matplotlib and Jinja2
GENERATOR = "digitwatch report"  # marks a page as ours: only such a page is written over
TOP_REASONS = 12
STATUS_COLOURS = {Status.OK: "#3a7d44", Status.UNCERTAIN: "#d08c00", Status.NO_DIGIT: "#8a8a8a", Status.ERROR: "#b22"}


class ReportError(Exception):
    """The report cannot be written where asked."""


@dataclass(frozen=True)
class ReportSummary:
    """What a report covered."""

    rows: int
    files: int
    path: Path
    agreement: Agreement


def write_report(settings: ReportSettings, *, progress: Callable[[int, int], None] | None = None) -> ReportSummary:
    """Read the results and corrections and write the report page; ReportError, ResultsError or CorrectionsError
    when that cannot be done."""
    environment, figure_class = _libraries()
    out = settings.out_file()
    _check_out(out)
    records = read_results(settings.results, progress)
    checks = agreement(records, read_corrections(settings.corrections_file()), below=settings.below)
    table = pd.DataFrame([[getattr(record, column) for column in _COLUMNS] for record in records], columns=[*_COLUMNS])
    table["at"] = pd.to_datetime(table["processed_at"], utc=True, errors="coerce", format="ISO8601")
    page = environment.get_template("report.html").render(
        generator=GENERATOR,
        results=settings.results,
        rows=len(table),
        files=table["filename"].nunique(),
        first=table["at"].min(),
        last=table["at"].max(),
        by_status=table["status"].value_counts().reindex(list(Status), fill_value=0),
        reasons=_reasons(table),
        charts={name: _png(draw, figure_class, table) for name, draw in _CHARTS.items()} if len(table) else {},
        checks=checks,
        corrections=settings.corrections_file(),
        below=settings.below,
        statuses=list(Status),
        reasons_of_ok=(Why.SPOT_CHECK, Why.LOW_CONFIDENCE),
        answers=ANSWERS,
        not_a_digit=NOT_A_DIGIT,
    )
    _write_page(out, page)
    return ReportSummary(rows=len(table), files=int(table["filename"].nunique()), path=out, agreement=checks)


_COLUMNS = ("filename", "digit", "confidence", "status", "processed_at", "detail", "sha256", "page")


def _libraries() -> tuple[Any, Any]:
    """Jinja2's environment for our templates and matplotlib's Figure, or ExtraMissing saying what to install."""
    try:
        from jinja2 import Environment, FileSystemLoader
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ExtraMissing(
            f"the report needs matplotlib and Jinja2 ({exc}); install them with: {REPORT_EXTRA}"
        ) from exc
    templates = Path(__file__).parent / "templates"
    return Environment(loader=FileSystemLoader(templates), autoescape=True), Figure


def _reasons(table: pd.DataFrame) -> list[tuple[str, str, int]]:
    """The most frequent (status, detail) of rows that got no digit."""
    refused = table[table["status"].isin([Status.ERROR, Status.NO_DIGIT])]
    counts = refused.groupby(["status", "detail"]).size().sort_values(ascending=False).head(TOP_REASONS)
    return [(str(status), str(detail), int(count)) for (status, detail), count in counts.items()]


def _by_day(table: pd.DataFrame, axes: Any) -> None:
    days = table.groupby([table["at"].dt.strftime("%Y-%m-%d"), "status"]).size().unstack(fill_value=0)
    bottom = None
    for status in Status:
        if status in days:
            axes.bar(days.index, days[status], bottom=bottom, label=str(status), color=STATUS_COLOURS[status])
            bottom = days[status] if bottom is None else bottom + days[status]
    axes.set(title="Rows per day, by status", ylabel="rows")
    axes.legend()
    axes.tick_params(axis="x", labelrotation=45)


def _digits(table: pd.DataFrame, axes: Any) -> None:
    read = table[table["status"].isin([Status.OK, Status.UNCERTAIN])]
    counts = read["digit"].dropna().astype(int).value_counts().reindex(range(10), fill_value=0)
    axes.bar([str(d) for d in range(10)], counts.to_numpy(), color="#2a6fdb")
    axes.set(title="Digits read (ok and uncertain rows)", xlabel="digit", ylabel="rows")


def _confidence(table: pd.DataFrame, axes: Any) -> None:
    axes.hist(table["confidence"].dropna(), bins=[i / 20 for i in range(21)], color="#2a6fdb")
    # Most rows sit near 1.0; a log scale keeps the doubtful few in sight.
    axes.set(title="Confidence", xlabel="confidence", ylabel="rows (log scale)", yscale="log")


def _throughput(table: pd.DataFrame, axes: Any) -> None:
    times = table["at"].dropna()
    span = (times.max() - times.min()) if len(times) else pd.Timedelta(0)
    unit, label = ("min", "minute") if span <= pd.Timedelta(hours=6) else ("h", "hour")
    per = times.dt.floor(unit).value_counts().sort_index()
    if len(per):
        per = per.asfreq(unit, fill_value=0)  # idle hours show as 0, not as a line drawn across them
    axes.plot(per.index, per.to_numpy(), marker=".", color="#2a6fdb")
    axes.set(title=f"Rows written per {label}", ylabel="rows")
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelrotation=45)


_CHARTS = {"by_day": _by_day, "digits": _digits, "confidence": _confidence, "throughput": _throughput}


def _png(draw: Callable[[pd.DataFrame, Any], None], figure_class: Any, table: pd.DataFrame) -> str:
    """One chart as a data: URL (a Figure, not pyplot: no global state, no display needed)."""
    figure = figure_class(figsize=(6.4, 3.6), layout="constrained")
    draw(table, figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _check_out(out: Path) -> None:
    """Write over nothing but an earlier report."""
    if not out.exists():
        return
    try:
        with out.open(encoding="utf-8", errors="replace") as file:
            ours = f'<meta name="generator" content="{GENERATOR}">' in file.read(2048)
    except OSError as exc:
        raise ReportError(f"cannot read {out}: {exc.strerror or exc}") from exc
    if not ours:
        raise ReportError(f"{out} exists and is not a digitwatch report; pass another --out, or move it aside")


def _write_page(out: Path, page: str) -> None:
    try:
        write_atomically(out, lambda file: file.write(page))
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc
