"""Hostile documents dropped into a running service: each an error row within seconds, and the service goes on.

The documents are the tests' own (tests/document_files.py): an encrypted PDF,
a corrupt one, one with a 200-inch page, one with more pages than
--max-pages, and one whose page PDFium takes about 20 s to render, read under
the default --read-timeout. A good PDF dropped after them must get its rows,
and a SIGTERM while a slow page is being rendered must stop the service at once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the documents the tests use

from document_files import SLOW_CALLS, corrupt_pdf, drawing_pdf, encrypted_pdf, enormous_page_pdf, write_pdf
from fault_kit import Figures, Folder
from service_run import read_rows, wait_until

MAX_PAGES = 100  # the default
ERROR_WITHIN = 15.0  # seconds: the default --read-timeout (10 s), and the worker's replacement
STOP_WITHIN = 2.0  # seconds: the service's promise on SIGTERM


def hostile_documents(folder: Folder) -> Figures:
    """Each hostile PDF an error row within ERROR_WITHIN s, the good PDF after them read, a stop at once."""
    digits = np.load(Path(__file__).resolve().parents[1] / "tests" / "data" / "mnist_small.npz")["x_test"][:3]
    hostile = {
        "encrypted.pdf": encrypted_pdf(),
        "corrupt.pdf": corrupt_pdf(),
        "poster.pdf": enormous_page_pdf(),
        # Three times the tests' slow page: that one rendered in 8.8 s on a quiet run here, under the 10-s limit.
        "slow.pdf": drawing_pdf(1, 3 * SLOW_CALLS, nested=True),
    }
    with folder.watch("--settle", "0") as service:
        service.wait_ready()
        seconds: dict[str, float | None] = {}
        for name, data in hostile.items():
            (folder.inbox / name).write_bytes(data)
            seconds[name] = wait_until(lambda name=name: name in set(read_rows(folder.results)["filename"]), 60)
        write_pdf(folder.inbox / "long.pdf", [digits[0]] * (MAX_PAGES + 1))
        seconds["long.pdf"] = wait_until(lambda: "long.pdf" in set(read_rows(folder.results)["filename"]), 60)
        write_pdf(folder.inbox / "good.pdf", list(digits))
        seconds["good.pdf"] = wait_until(lambda: (read_rows(folder.results)["filename"] == "good.pdf").sum() == 3, 60)
        running = service.popen.poll() is None
        (folder.inbox / "slow_again.pdf").write_bytes(hostile["slow.pdf"] + b"\n")
        time.sleep(2.0)  # a worker is now rendering its page
        stop = service.stop()
    rows = read_rows(folder.results)
    details = {row.filename: row.detail for row in rows.itertuples() if row.status == "error"}
    good = rows[rows["filename"] == "good.pdf"]
    return {
        "passed": all(
            [
                all(s is not None and s < ERROR_WITHIN for name, s in seconds.items() if name != "good.pdf"),
                set(details) == {*hostile, "long.pdf"},
                list(good["page"]) == ["1", "2", "3"] and good["status"].isin(["ok", "uncertain"]).all(),
                running,
                stop.code == 0 and stop.seconds < STOP_WITHIN and stop.orphans == 0,
                "slow_again.pdf" not in set(rows["filename"]),
            ]
        ),
        "seconds_to_row": seconds,
        "details": details,
        "good_pdf_digits": list(good["digit"]),
        "service_ran_throughout": running,
        "stop_seconds_during_a_slow_page": stop.seconds,
        "stop_exit_code": stop.code,
        "orphans": stop.orphans,
    }
