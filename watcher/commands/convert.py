"""`digitwatch convert`: export a Keras model to LiteRT, which the service runs without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import fail
from watcher.model.backends import ModelError
from watcher.ops.logs import configure_logging


def convert_command(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL.keras",
            show_default=False,
            help="The Keras model to convert; NAME.tflite is written beside it.",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            exists=True,
            help="MNIST (.npz or IDX folder): check that LiteRT and Keras agree on its test digits.",
        ),
    ] = None,
) -> None:
    """Convert a .keras model to LiteRT (NAME.tflite beside it), which loads fast and without TensorFlow.

    The service uses the .tflite only while the .keras file is the one it was
    converted from; convert again after replacing the model.
    """
    from train.data import DataError
    from train.export import ExportError, convert

    configure_logging()
    try:
        conversion = convert(model, data=data)
    except (ExportError, DataError, ModelError) as exc:  # ModelError: the `train` extra is missing
        raise fail(str(exc)) from exc
    typer.echo(f"{conversion.tflite_path} written ({conversion.size:,} bytes)")
    agreement = conversion.agreement
    if agreement is not None:
        typer.echo(f"{conversion.tflite_path.name}: {agreement.summary()}")
        if agreement.same_digit != agreement.digits:
            differ = agreement.digits - agreement.same_digit
            raise fail(
                f"LiteRT and Keras read {differ} of {agreement.digits} test digits differently; "
                f"delete {conversion.tflite_path} to keep serving the Keras model"
            )
