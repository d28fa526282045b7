"""`digitwatch train`: rebuild a model from MNIST."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from watcher.backends import ModelError
from watcher.commands import DataOption, fail
from watcher.logs import configure_logging

DEFAULT_OUTPUT = Path("models") / "digitwatch.keras"
# The recipe's defaults, as train.DEFAULT_EPOCHS, DEFAULT_NEGATIVES, DEFAULT_VARIANTS and DEFAULT_MEMBERS (a
# test keeps them equal): written out here because the CLI imports nothing from train/ until a training command runs.
DEFAULT_EPOCHS = 24
DEFAULT_NEGATIVES = 12000
DEFAULT_VARIANTS = 15000
DEFAULT_MEMBERS = 2


def train_command(
    data: DataOption = None,
    epochs: Annotated[int, typer.Option(metavar="N", min=1, help="Passes over the training data.")] = DEFAULT_EPOCHS,
    output: Annotated[
        Path,
        typer.Option(
            metavar="PATH",
            dir_okay=False,
            help="Where to write the .keras model; metadata, metrics and plots go beside it.",
        ),
    ] = DEFAULT_OUTPUT,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Random seed: the same seed and data give the same model.")
    ] = 0,
    negatives: Annotated[
        int,
        typer.Option(
            metavar="N", min=0, help="Non-digits (letters, symbols, shapes) taught to get low confidence; 0 for none."
        ),
    ] = DEFAULT_NEGATIVES,
    variants: Annotated[
        int,
        typer.Option(
            metavar="N", min=0, help="Training digits redrawn with a thick marker or at low resolution; 0 for none."
        ),
    ] = DEFAULT_VARIANTS,
    members: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="Networks trained with seeds SEED, SEED+1, ...; the model averages them (each costs the same time).",
        ),
    ] = DEFAULT_MEMBERS,
    augment: Annotated[
        bool,
        typer.Option(
            "--augment/--no-augment", help="Distort training digits (rotation, slant, zoom, shift, pen, blur, noise)."
        ),
    ] = True,
) -> None:
    """Train the CNN on MNIST, calibrate it on a validation split and test it once."""
    from train.data import DataError
    from train.export import ExportError
    from train.fit import TrainSettings, train

    if output.suffix != ".keras":
        raise fail(f"--output must end in .keras, got {output}")
    configure_logging()
    # A live progress bar on a terminal; one line per epoch in a log file or CI.
    verbose = 1 if sys.stdout.isatty() else 2
    settings = TrainSettings(
        output=output,
        data=data,
        epochs=epochs,
        seed=seed,
        augment=augment,
        negatives=negatives,
        variants=variants,
        members=members,
        verbose=verbose,
    )
    try:
        result = train(settings)
    except (DataError, ExportError, ModelError) as exc:  # ModelError: the `train` extra is missing
        raise fail(str(exc)) from exc
    typer.echo(
        f"MNIST test accuracy {result.test_accuracy:.2%} after {result.seconds / 60:.1f} min; "
        f"model written to {result.model_path}"
    )
