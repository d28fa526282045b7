"""The results CSV contract: columns, awkward names through pandas, durability and crash repair."""

from __future__ import annotations

import pandas as pd
import pytest

from watcher.protocol import Prediction
from watcher.results.csv_file import CsvStore, repair_torn_row
from watcher.results.schema import COLUMNS, LEGACY_COLUMNS, ResultRow, neutralise, unneutralise

AWKWARD_NAMES = [
    "plain.png",
    "comma, in name.png",
    'quote " in name.png',
    "new\nline.png",
    "carriage\rreturn.png",
    "semi;colon.png",
    "ünïcödé-数字-٣.png",
    "emoji-✍️.png",
    "NA.png",
    "nan",
    "123",
    "  spaces  .png",
    "sub/folder/deep.png",
]
FORMULA_NAMES = ["=HYPERLINK(1).png", "+1.png", "-2.png", "@sum.png", "\tTab.png", "\rCR.png"]


def read_back(path):
    """How we tell users to read the file (docs/results.md): every column as text, no NA guessing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def ok(digit=3, confidence=0.98765):
    return Prediction(status="ok", digit=digit, confidence=confidence)


def test_header_and_columns(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of("a.png", ok(), sha256="ab")])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert COLUMNS[:3] == ["filename", "digit", "confidence"]
    table = read_back(path)
    assert table.loc[0, "digit"] == "3"
    assert table.loc[0, "confidence"] == "0.9877"
    assert table.loc[0, "status"] == "ok"
    assert pd.Timestamp(table.loc[0, "processed_at"]).tzinfo is not None  # ISO 8601 with UTC


def test_header_written_once_across_reopen(tmp_path):
    path = tmp_path / "results.csv"
    for name in ("a.png", "b.png"):
        with CsvStore(path) as results:
            results.append([ResultRow.of(name, ok())])
    text = path.read_text(encoding="utf-8")
    assert text.count("filename,digit,confidence") == 1
    assert list(read_back(path)["filename"]) == ["a.png", "b.png"]


def test_awkward_names_round_trip_through_pandas(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of(name, ok(i % 10)) for i, name in enumerate(AWKWARD_NAMES)])
    table = read_back(path)
    assert list(table["filename"]) == AWKWARD_NAMES
    assert list(table["digit"]) == [str(i % 10) for i in range(len(AWKWARD_NAMES))]
    numeric = pd.read_csv(
        path, dtype={"filename": str}, keep_default_na=False, na_values={"digit": [""], "confidence": [""]}
    )
    assert numeric["confidence"].between(0, 1).all()


def test_formula_names_are_neutralised_and_recoverable(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of(name, ok()) for name in FORMULA_NAMES])
    cells = list(read_back(path)["filename"])
    assert all(cell.startswith("'") for cell in cells)
    assert [unneutralise(cell) for cell in cells] == FORMULA_NAMES


def test_formula_neutralising_can_be_disabled(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path, neutralise_formulas=False) as results:
        results.append([ResultRow.of("=1+1.png", ok())])
    assert list(read_back(path)["filename"]) == ["=1+1.png"]


def test_neutralise_leaves_ordinary_names_alone():
    assert neutralise("scan 001.png") == "scan 001.png"
    assert unneutralise("'quoted.png") == "'quoted.png"  # an apostrophe that guards nothing stays


def test_rows_without_a_digit_leave_digit_and_confidence_empty(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append(
            [
                ResultRow.of("blank.png", Prediction(status="no_digit", detail="no ink")),
                ResultRow.of("bad.png", Prediction(status="error", detail="corrupt\nor truncated")),
            ]
        )
    table = pd.read_csv(path)
    assert table["digit"].isna().all() and table["confidence"].isna().all()
    assert list(table["status"]) == ["no_digit", "error"]
    assert table.loc[1, "detail"] == "corrupt or truncated"  # details stay on one line


@pytest.mark.parametrize("cut", [5, 40, -3])
def test_partial_last_line_is_repaired_before_appending(tmp_path, cut):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of("first.png", ok()), ResultRow.of('second "quoted"\nname.png', ok(7))])
    whole = path.read_bytes()
    last_row_start = whole.rindex(b'"second')
    torn = whole[: last_row_start + cut] if cut > 0 else whole[:cut]
    path.write_bytes(torn)
    with CsvStore(path) as results:
        results.append([ResultRow.of("third.png", ok(1))])
    table = read_back(path)
    assert list(table["filename"]) == ["first.png", "third.png"]
    (side,) = tmp_path.glob("results.csv.torn-*")
    assert torn.endswith(side.read_bytes()) and whole.startswith(torn[: len(torn) - len(side.read_bytes())])


def test_repair_leaves_a_complete_file_alone(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of("a.png", ok())])
    before = path.read_bytes()
    assert repair_torn_row(path) is None
    assert path.read_bytes() == before


def test_ledger_maps_names_to_hashes_and_pages(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append(
            [
                ResultRow.of("a.png", ok(), sha256="h1"),
                ResultRow.of("a.png", ok(), sha256="h2"),
                ResultRow.of("=b.png", ok(), sha256="h3"),
                ResultRow.of("c.pdf", ok(), sha256="h4", page=1),
                ResultRow.of("c.pdf", ok(), sha256="h4", page=2),
            ]
        )
    with CsvStore(path) as results:
        ledger = results.ledger()
    assert len(ledger) == 3
    assert ledger.recorded("a.png") == {("h1", None), ("h2", None)}
    assert ledger.recorded("=b.png") == {("h3", None)}  # the real name, not the guarded cell
    assert ledger.recorded("c.pdf") == {("h4", 1), ("h4", 2)}
    assert ledger.has("c.pdf", "h4", 2) and not ledger.has("c.pdf", "h4", 3)


def test_the_page_column_comes_last_and_is_empty_for_a_single_image(tmp_path):
    path = tmp_path / "results.csv"
    with CsvStore(path) as results:
        results.append([ResultRow.of("a.png", ok(), sha256="h1"), ResultRow.of("c.pdf", ok(), sha256="h2", page=3)])
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table.columns) == LEGACY_COLUMNS + ["page"]
    assert list(table["page"]) == ["", "3"]


def test_ledger_of_foreign_csv_is_a_clear_error(tmp_path):
    from watcher.results.store import ResultsError

    path = tmp_path / "results.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsError, match="not a digitwatch results file"):
        CsvStore(path)
    assert path.read_text() == "a,b\n1,2\n"  # refused untouched
