"""SIGHUP loads the model file again between batches; a model that cannot be loaded is logged and not taken."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np

from service_helpers import ServiceProcess, png_bytes, wait_for, wait_for_rows


def test_sighup_loads_the_model_again_and_keeps_the_old_one_when_the_new_is_broken(
    digitwatch_exe: str, served_model_path: Path, tmp_path: Path, mnist_small: dict[str, np.ndarray]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(served_model_path.parent, models)
    model = models / served_model_path.name
    meta = model.with_suffix(".meta.json")
    inbox, results = tmp_path / "inbox", tmp_path / "results" / "predictions.csv"
    inbox.mkdir()
    results.parent.mkdir()
    digit = png_bytes(mnist_small["x_test"][0])
    args = ("--inbox", inbox, "--results", results, "--model", model, "--settle", "0.05")
    with ServiceProcess(digitwatch_exe, tmp_path / "service.log", *args) as service:
        service.wait_ready()
        (inbox / "before.png").write_bytes(digit)
        assert wait_for_rows(results, 1)["status"].tolist() == ["ok"]

        # The same network, recalibrated so that nothing it reads is sure: every row turns uncertain.
        metadata = json.loads(meta.read_text())
        meta.write_text(json.dumps({**metadata, "temperature": 1000.0}))
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "model loaded again" in service.log(), timeout=20, what="the reload")
        (inbox / "after.png").write_bytes(digit)
        assert wait_for_rows(results, 2)["status"].tolist() == ["ok", "uncertain"]

        meta.write_text("{ half-copied")
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "could not be loaded again" in service.log(), timeout=20, what="the refusal")
        (inbox / "still.png").write_bytes(digit)
        assert wait_for_rows(results, 3)["status"].tolist() == ["ok", "uncertain", "uncertain"]
        assert service.terminate()[0] == 0
