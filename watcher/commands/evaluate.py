"""`digitwatch evaluate`: measure a model on the MNIST test set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from watcher.classifier import ModelError
from watcher.commands import configure_logging, fail


def evaluate_command(
    data: Annotated[
        Optional[Path],
        typer.Option(help="MNIST as a Keras-layout .npz or a folder of IDX files. Default: download with Keras.",
                     envvar="DIGITWATCH_DATA", exists=True),
    ] = None,
    model: Annotated[
        Optional[Path],
        typer.Option(help="A .keras or .h5 model. Default: the model shipped with digitwatch.",
                     envvar="DIGITWATCH_MODEL", dir_okay=False),
    ] = None,
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
