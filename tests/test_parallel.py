"""Decode workers: the same Prepared results, in the same order, as reading the files one by one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from watcher.imaging import prepare_file
from watcher.parallel import MIN_PARALLEL, PreparePool, prepared_in_order


def test_workers_give_the_same_results_in_order(digit_files, tmp_path):
    paths = [path for path, _ in digit_files(MIN_PARALLEL + 20)]
    (tmp_path / "junk.png").write_bytes(b"not an image")
    paths.insert(7, tmp_path / "junk.png")
    with prepared_in_order(paths, workers=2) as prepared:
        from_workers = list(prepared)
    one_by_one = [prepare_file(path) for path in paths]
    assert [p.sha256 for p in from_workers] == [p.sha256 for p in one_by_one]
    assert from_workers[7].error is not None and from_workers[7].error.kind == "error"
    for a, b in zip(from_workers, one_by_one, strict=True):
        assert (a.digit is None) == (b.digit is None)
        if a.digit is not None:
            np.testing.assert_array_equal(a.digit, b.digit)


def test_a_broken_pool_falls_back_to_this_process(digit_files):
    paths = [path for path, _ in digit_files(40)]
    with PreparePool(2) as pool:
        pool.broken = True  # as after a worker crashed
        prepared = list(pool.prepare(paths))
    assert [p.sha256 for p in prepared] == [prepare_file(path).sha256 for path in paths]


def test_idle_workers_stop_and_start_again_on_demand(digit_files):
    paths = [path for path, _ in digit_files(40)]
    with PreparePool(2) as pool:
        first = [p.sha256 for p in pool.prepare(paths)]
        pool.stop_if_idle(0.0)
        assert pool._executor is None  # workers gone: memory back to the caller's alone
        assert [p.sha256 for p in pool.prepare(paths)] == first


def test_the_command_line_starts_without_importing_scipy():
    # SciPy takes 0.15 s to import; `classify` hands its files to decode workers
    # (which have it preloaded), so its own process must not pay for it.
    code = (
        "import sys; import watcher.cli, watcher.batch, watcher.service; "
        "assert 'scipy' not in sys.modules, 'scipy imported at start-up'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
