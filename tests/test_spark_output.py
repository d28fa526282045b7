"""Reading a Spark output without Spark, and what the Spark engine says when it cannot run; no JVM starts here.

The Parquet files are written with pyarrow in the layout Spark's file sink
leaves (`date=.../part-*.parquet` and the `_spark_metadata` log), so what is
checked is our reading of that layout: only committed files count.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from requirements import require_or_skip
from service_helpers import read_rows
from watcher.protocol import Table
from watcher.results.export import ExportError, ExportSettings, export_table
from watcher.results.parquet import SINK_LOG, SparkOutputError, committed_files, read_spark_output
from watcher.results.schema import COLUMNS
from watcher.settings import IMAGE_PATTERNS
from watcher.spark.stream import name_glob


@pytest.fixture(autouse=True)
def spark_libraries() -> None:
    """pyspark and pyarrow, the `spark` part (tests/requirements.py): no JVM starts here, but the engine's
    own checks run first and the Parquet files are pyarrow's."""
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as missing:
        require_or_skip("spark", f"{missing}; pip install 'digitwatch[spark]'")


ROW = {
    "filename": "a.png",
    "digit": 3,
    "confidence": 0.98765,
    "status": "ok",
    "processed_at": "2026-12-02T10:00:00.000Z",
    "detail": "",
    "sha256": "aa",
    "page": None,
    "path": "file:/in/a.png",
}


def write_part(out: Path, name: str, rows: list[dict[str, object]]) -> Path:
    """A Parquet file as the sink writes one: in the date partition, without the partition column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = out / "date=2026-12-02"
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [("filename", pa.string()), ("digit", pa.int32()), ("confidence", pa.float64()), ("status", pa.string()),
         ("processed_at", pa.string()), ("detail", pa.string()), ("sha256", pa.string()), ("page", pa.int32()),
         ("path", pa.string())]
    )  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name)
    return folder / name


def log_batch(out: Path, name: str, files: list[Path], *, written_at: str = "/elsewhere/out") -> None:
    """One entry of the sink's log, naming files by where the output was when they were written."""
    (out / SINK_LOG).mkdir(parents=True, exist_ok=True)
    entries = [
        json.dumps({"path": f"file://{written_at}/{f.parent.name}/{f.name}", "size": 1, "action": "add"}) for f in files
    ]
    (out / SINK_LOG / name).write_text("\n".join(["v1", *entries]) + "\n")


def test_only_committed_files_are_read_wherever_the_output_was_moved(tmp_path):
    out = tmp_path / "moved-here"
    first = write_part(out, "part-0.parquet", [ROW])
    second = write_part(out, "part-1.parquet", [dict(ROW, filename="b.png", sha256="bb", digit=7)])
    # A batch killed before its commit leaves its file behind; it runs again and writes a new one.
    write_part(out, "part-1-leftover.parquet", [dict(ROW, filename="b.png", sha256="bb", digit=7)])
    log_batch(out, "0", [first])
    log_batch(out, "1", [second])
    assert committed_files(out) == [first, second]
    assert [(r.filename, r.digit) for r in read_spark_output(out)] == [("a.png", 3), ("b.png", 7)]


def test_a_compacted_log_is_read_from_its_last_compact_file(tmp_path):
    out = tmp_path / "out"
    parts = [write_part(out, f"part-{n}.parquet", [dict(ROW, filename=f"{n}.png")]) for n in range(3)]
    log_batch(out, "8", [parts[0]])  # older than the compact file that holds it: not read again
    log_batch(out, "9.compact", parts[:2])
    log_batch(out, "10", [parts[2]])
    (out / SINK_LOG / ".10.crc").write_text("checksum")  # Hadoop's checksum files are no batches
    assert sorted(r.filename for r in read_spark_output(out)) == ["0.png", "1.png", "2.png"]


def test_a_folder_without_the_log_or_with_a_foreign_one_is_refused(tmp_path):
    write_part(tmp_path / "plain", "part-0.parquet", [ROW])
    with pytest.raises(SparkOutputError, match="no _spark_metadata"):
        committed_files(tmp_path / "plain")
    (tmp_path / "plain" / SINK_LOG).mkdir()
    (tmp_path / "plain" / SINK_LOG / "0").write_text("v9\n{}\n")
    with pytest.raises(SparkOutputError, match="expected v1"):
        committed_files(tmp_path / "plain")


def test_export_writes_the_results_csv_new_and_the_final_table_with_corrections(tmp_path):
    out = tmp_path / "out"
    part = write_part(out, "part-0.parquet", [dict(ROW, filename="=sum.png", detail="")])
    log_batch(out, "0", [part])
    results = tmp_path / "results.csv"
    export_table(ExportSettings(out=results, parquet=out))
    rows = read_rows(results)
    assert list(rows.columns) == COLUMNS
    assert rows.iloc[0].tolist() == ["'=sum.png", "3", "0.9877", "ok", "2026-12-02T10:00:00.000Z", "", "aa", ""]
    with pytest.raises(ExportError, match="only as a new file"):  # it may be a service's own results
        export_table(ExportSettings(out=results, parquet=out))
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("filename,page,sha256,predicted,label,corrected_at,reviewer\n=sum.png,,aa,3,8,t,ann\n")
    settings = ExportSettings(out=tmp_path / "final.csv", parquet=out, corrections=corrections)
    assert settings.table == Table.FINAL
    assert export_table(settings).by_person == 1
    assert read_rows(tmp_path / "final.csv").iloc[0][["final_digit", "source"]].tolist() == ["8", "person"]


def test_the_name_glob_takes_every_image_name_in_any_case_but_lock_files():
    # Hadoop's glob syntax, read here as a regular expression the way Hadoop's GlobPattern compiles it.
    glob = name_glob(IMAGE_PATTERNS)
    assert glob.startswith("{") and glob.endswith("}")
    expression = re.compile("|".join(part.replace(".", r"\.").replace("*", ".*") for part in glob[1:-1].split(",")))
    for name in ("a.png", "SCAN.PNG", "form.Pdf", "photo.heic", "x.tiff"):
        assert expression.fullmatch(name), name
    for name in ("~$form.png", "notes.txt", "a.png.part"):
        assert not expression.fullmatch(name), name


def run_without(tmp_path: Path, digitwatch_exe: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "in").mkdir(exist_ok=True)
    return subprocess.run(
        [digitwatch_exe, "classify", str(tmp_path / "in"), "--engine", "spark", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_without_java_the_spark_engine_says_what_to_install(tmp_path, digitwatch_exe):
    no_java = tmp_path / "bin"
    no_java.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(no_java)  # the console script is run by its full path; its Python by its shebang
    result = run_without(tmp_path, digitwatch_exe, env)
    assert result.returncode == 1, result.stderr
    assert "needs Java" in result.stderr and "openjdk-17-jre-headless" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_spark_engine_refuses_a_missing_source_a_foreign_output_and_mixed_options(tmp_path):
    from typer.testing import CliRunner

    from watcher.cli import app

    (tmp_path / "in").mkdir()
    foreign = tmp_path / "out" / "mine.txt"
    foreign.parent.mkdir()
    foreign.write_text("not yours")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["classify", *args])
        return result.exit_code, result.output

    code, output = run(str(tmp_path / "nowhere"), "--engine", "spark", "--out", str(tmp_path / "new"))
    assert code == 1 and "no such folder" in output
    code, output = run(str(tmp_path / "in"), "--engine", "spark", "--out", str(foreign.parent))
    assert code == 1 and "not a digitwatch Parquet output" in output
    assert [p.name for p in foreign.parent.iterdir()] == ["mine.txt"] and foreign.read_text() == "not yours"
    code, output = run(str(tmp_path / "in"), "--engine", "spark", "--out", "o", "--results", "r.csv")
    assert code == 2 and "--results: only with the local engine" in output
    code, output = run(str(tmp_path / "in"), "--out", "o", "--watch")
    assert code == 2 and "--out, --watch: only with --engine spark" in output
    assert not (tmp_path / "new").exists()
