"""The corrections file and the final table `digitwatch export` writes from results and corrections."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from watcher.protocol import NOT_A_DIGIT, Prediction, Status
from watcher.results.corrections import (
    CORRECTION_COLUMNS,
    Correction,
    CorrectionsError,
    CorrectionsFile,
    read_corrections,
)
from watcher.results.csv_file import CsvStore
from watcher.results.export import FINAL_COLUMNS, ExportError, ExportSettings, export_table
from watcher.results.reader import ResultsReader, read_results
from watcher.results.schema import ResultRow


def write_results(path: Path, rows: list[tuple[str, int | None, float | None, Status, str, int | None]]) -> None:
    """Append rows (filename, digit, confidence, status, sha256, page) through the service's own writer."""
    with CsvStore(path) as results:
        results.append(
            [
                ResultRow.of(name, Prediction(status, digit, confidence), sha256=sha, page=page)
                for name, digit, confidence, status, sha, page in rows
            ]
        )


def final_table(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == FINAL_COLUMNS
        rows = list(reader)
    table = {(row["filename"], row["page"]): row for row in rows}
    assert len(table) == len(rows), "one final row per file and page"
    return table


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "results" / "predictions.csv"
    write_results(
        path,
        [
            ("a.png", 3, 0.99, Status.OK, "aaa", None),
            ("b.png", 5, 0.41, Status.UNCERTAIN, "bbb", None),
            ("form.pdf", 1, 0.98, Status.OK, "ppp", 1),
            ("form.pdf", 7, 0.52, Status.UNCERTAIN, "ppp", 2),
            ("=evil.png", None, None, Status.NO_DIGIT, "eee", None),
            ("a.png", 8, 0.97, Status.OK, "aa2", None),  # a.png changed and was read again
        ],
    )
    return path


def test_export_applies_the_last_correction_that_matches_the_content(results: Path, tmp_path: Path) -> None:
    corrections = results.parent / "corrections.csv"
    writer = CorrectionsFile(corrections)
    writer.append(Correction("b.png", "6", sha256="bbb", predicted=5))
    writer.append(Correction("b.png", "2", sha256="bbb", predicted=5, reviewer="ann"))  # the last wins
    writer.append(Correction("form.pdf", NOT_A_DIGIT, page=2, sha256="ppp", predicted=7))
    writer.append(Correction("a.png", "4", sha256="aaa", predicted=3))  # corrects content a.png no longer has
    writer.append(Correction("=evil.png", "0", sha256=""))  # no hash: corrects whatever the file holds
    summary = export_table(ExportSettings(results=results, out=tmp_path / "final.csv", corrections=corrections))

    table = final_table(tmp_path / "final.csv")
    assert set(table) == {("a.png", ""), ("b.png", ""), ("form.pdf", "1"), ("form.pdf", "2"), ("'=evil.png", "")}
    assert (table["a.png", ""]["digit"], table["a.png", ""]["final_digit"], table["a.png", ""]["source"]) == (
        "8",
        "8",
        "model",
    )
    assert (table["b.png", ""]["final_digit"], table["b.png", ""]["source"]) == ("2", "person")
    assert (table["form.pdf", "1"]["final_digit"], table["form.pdf", "1"]["source"]) == ("1", "model")
    assert (table["form.pdf", "2"]["final_digit"], table["form.pdf", "2"]["source"]) == ("", "person")
    assert (table["'=evil.png", ""]["final_digit"], table["'=evil.png", ""]["source"]) == ("0", "person")
    assert (summary.rows, summary.by_person, summary.unmatched_corrections) == (5, 3, 1)


def test_an_uncertain_reading_is_no_final_answer(results: Path, tmp_path: Path) -> None:
    export_table(ExportSettings(results=results, out=tmp_path / "final.csv"))
    table = final_table(tmp_path / "final.csv")
    assert table["b.png", ""]["digit"] == "5"
    assert (table["b.png", ""]["final_digit"], table["b.png", ""]["source"]) == ("", "model")


def test_export_never_writes_over_a_file_that_is_not_its_own(results: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "budget.csv"
    foreign.write_bytes(b"month,amount\r\njan,10\r\n")
    with pytest.raises(ExportError, match="not a final table"):
        export_table(ExportSettings(results=results, out=foreign))
    assert foreign.read_bytes() == b"month,amount\r\njan,10\r\n"
    with pytest.raises(ExportError, match="input"):
        export_table(ExportSettings(results=results, out=results))
    out = tmp_path / "final.csv"
    export_table(ExportSettings(results=results, out=out))
    export_table(ExportSettings(results=results, out=out))  # an earlier export is replaced
    assert len(final_table(out)) == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_corrections_file_has_exactly_its_columns_and_undo_cuts_only_its_own_row(tmp_path: Path) -> None:
    path = tmp_path / "corrections.csv"
    writer = CorrectionsFile(path)
    first = writer.append(Correction("x,y.png", "1", predicted=7, reviewer="bo"))
    second = writer.append(Correction("z.png", NOT_A_DIGIT, page=3, sha256="s"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(CORRECTION_COLUMNS)
    assert [c.label for c in read_corrections(path)] == ["1", NOT_A_DIGIT]
    assert writer.undo(second)
    assert [c.filename for c in read_corrections(path)] == ["x,y.png"]
    assert not writer.undo(second)  # already taken back: nothing more is cut
    with path.open("a", encoding="utf-8") as script:  # a script appends after our row
        script.write("w.png,,,,4,2026-12-01T00:00:00Z,")
    assert not writer.undo(first)
    writer.append(Correction("v.png", "9"))  # goes on its own line although the script left no line end
    assert [c.filename for c in read_corrections(path)] == ["x,y.png", "w.png", "v.png"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("filename,digit\r\na.png,3\r\n", "not a corrections file"),
        (",".join(CORRECTION_COLUMNS) + "\r\na.png,,,,12,t,\r\n", "line 2: label '12'"),
        (",".join(CORRECTION_COLUMNS) + "\r\na.png,one,,,1,t,\r\n", "line 2: needs"),
        (",".join(CORRECTION_COLUMNS) + "\r\na.png,,,1\r\n", "line 2: 4 cells"),
    ],
)
def test_a_bad_corrections_file_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "corrections.csv"
    path.write_bytes(text.encode())
    with pytest.raises(CorrectionsError, match=message):
        read_corrections(path)
    if "not a corrections" in message:
        with pytest.raises(CorrectionsError, match="not a corrections file"):
            CorrectionsFile(path).append(Correction("a.png", "1"))
        assert path.read_bytes() == text.encode()


def test_reader_follows_a_growing_file_and_keeps_a_name_with_a_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("watcher.results.reader.READ_CHUNK", 7)  # chunks end inside the quoted name too
    path = tmp_path / "predictions.csv"
    write_results(path, [("one\nname.png", 1, 0.9, Status.OK, "h1", None)])
    reader = ResultsReader(path)
    first, _ = reader.read_new()
    assert [r.filename for r in first] == ["one\nname.png"]
    with path.open("ab") as file:  # a row being written: no line end yet
        file.write(b"two.png,2,0.9000,ok,t,,h2,")
    assert reader.read_new()[0] == []
    with path.open("ab") as file:
        file.write(b"\r\n")
    assert [r.filename for r in reader.read_new()[0]] == ["two.png"]
    path.unlink()
    write_results(path, [("three.png", 3, 0.9, Status.OK, "h3", None)])  # rotated: read from the start
    records, restarted = reader.read_new()
    assert ([r.filename for r in records], restarted) == (["three.png"], True)
    assert len(read_results(path)) == 1


def test_export_command_prints_counts_and_refuses_a_foreign_out(
    results: Path, tmp_path: Path, digitwatch_exe: str
) -> None:
    CorrectionsFile(results.parent / "corrections.csv").append(Correction("b.png", "6", sha256="bbb"))
    out = tmp_path / "final.csv"
    done = subprocess.run(
        [digitwatch_exe, "export", "--results", str(results), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "5 rows written" in done.stderr and "1 decided by a person" in done.stderr
    assert final_table(out)["b.png", ""]["final_digit"] == "6"
    foreign = tmp_path / "notes.csv"
    foreign.write_text("mine\n")
    done = subprocess.run(
        [digitwatch_exe, "export", "--results", str(results), "--out", str(foreign)], capture_output=True, text=True
    )
    assert done.returncode == 1 and "not a final table" in done.stderr
    assert foreign.read_text() == "mine\n"
