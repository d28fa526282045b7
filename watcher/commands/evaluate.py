"""`digitwatch evaluate`: measure a model on the MNIST test set."""

from __future__ import annotations

import typer

from watcher.commands import DataOption, ModelOption, fail
from watcher.model.classifier import ModelError
from watcher.ops.logs import configure_logging


def evaluate_command(
    data: DataOption = None,
    model: ModelOption = None,
) -> None:
    """Report a model's accuracy and calibration on the 10,000 MNIST test digits."""
    from train.data import DataError
    from train.evaluate import EvaluateSettings, evaluate

    configure_logging()
    try:
        report = evaluate(EvaluateSettings(data=data, model=model))
    except (DataError, ModelError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(report.summary())
