"""Every fault the watch service promises to survive, run end to end against the installed console script.

Each fault builds a fresh temp folder (removed afterwards), runs `digitwatch
watch` as a subprocess with its log in that folder, drives the fault, checks
the outcome and returns its figures. Not run in CI; about 3 minutes on two cores.

  sigterm          after 20 s with files flowing, SIGTERM ends it with exit 0 within 2 s (5 times)
  kill9_orphans    SIGKILL with decode workers running: every descendant gone within 2 s
  disk_full        a file-size limit (RLIMIT_FSIZE) mid-run: exit 1 naming the results file, the CSV
                   ends in CRLF with whole rows, no file moved without its row; a restart with room
                   (--once) leaves exactly one row per file
  rotation         the CSV renamed away (logrotate), then deleted: a new CSV with the header and the
                   new rows, no duplicates, and the log says "rotation"
  inbox_recreated  the inbox deleted for 3 s and created again: new files get rows, no restart
  overflow         a real inotify queue overflow while SIGSTOPped (rescans every hour): the files whose
                   events were lost get rows within 20 s of SIGCONT; a control without overflow too
  unreadable       a mode-000 file (root without CAP_DAC_OVERRIDE): an error row naming permission with
                   an empty sha256, then after chmod 644 a second, ok row with the real sha256
  foreign_results  a user's CSV at the results path: `watch` and `classify --results` exit 1 and
                   leave it byte-identical
  hostile_documents  encrypted, corrupt, 200-inch-page, 101-page and 20-s-to-render PDFs: an error row
                   each within 15 s (default --read-timeout), a good PDF after them read, and SIGTERM
                   while a slow page renders stops it within 2 s

    .venv/bin/python benchmarks/faults.py                  # all of them
    .venv/bin/python benchmarks/faults.py --only overflow  # one

It prints one line per fault and a JSON summary; the exit code is 0 only when
every fault passed. Run it as root on Linux (unreadable drops capabilities).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fault_documents
import fault_process
import fault_storage
from fault_kit import Figures, Folder, new_folder
from processes import become_subreaper

Fault = Callable[[Folder], Figures]
FAULTS: dict[str, Fault] = {
    "sigterm": fault_process.sigterm,
    "kill9_orphans": fault_process.kill9_orphans,
    "disk_full": fault_storage.disk_full,
    "rotation": fault_storage.rotation,
    "inbox_recreated": fault_process.inbox_recreated,
    "overflow": fault_process.overflow,
    "unreadable": fault_storage.unreadable,
    "foreign_results": fault_storage.foreign_results,
    "hostile_documents": fault_documents.hostile_documents,
}


def main() -> int:
    args = parse_args()
    become_subreaper()  # a process a killed service leaves behind is re-parented to us, so it is found
    names = [args.only] if args.only else list(FAULTS)
    summary = {name: run_fault(name, FAULTS[name], keep=args.keep) for name in names}
    passed = all(figures["passed"] for figures in summary.values())
    print(json.dumps({"passed": passed, "faults": summary}, indent=2))
    return 0 if passed else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=list(FAULTS), help="run this fault alone")
    parser.add_argument("--keep", action="store_true", help="keep each fault's temp folder (and say where)")
    return parser.parse_args()


def run_fault(name: str, fault: Fault, *, keep: bool) -> Figures:
    """Run one fault in a fresh temp folder; an exception is a failure with its message as the figure."""
    root = Path(tempfile.mkdtemp(prefix=f"digitwatch-fault-{name}-"))
    started = time.monotonic()
    try:
        figures = fault(new_folder(root))
    except Exception as exc:
        traceback.print_exc()
        figures = {"passed": False, "error": f"{exc.__class__.__name__}: {exc}"}
    finally:
        if keep:
            print(f"{name}: kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    print(f"{'PASS' if figures['passed'] else 'FAIL'} {name:<16} {one_line(figures)}", flush=True)
    return figures


def one_line(figures: Figures) -> str:
    """The figures of a fault on one line, without the verdict."""
    return json.dumps({key: value for key, value in figures.items() if key != "passed"}, separators=(",", ":"))


if __name__ == "__main__":
    sys.exit(main())
