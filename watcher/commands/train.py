"""`digitwatch train`: rebuild a model from MNIST."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from watcher.commands import DataOption, fail
from watcher.model.backends import ModelError
from watcher.ops.logs import configure_logging
from watcher.settings import DEFAULT_INBOX, image_folders_beside

DEFAULT_OUTPUT = Path("models") / "digitwatch.keras"
# The recipe's defaults, as train.DEFAULT_EPOCHS, DEFAULT_NEGATIVES, DEFAULT_VARIANTS, DEFAULT_TYPESET and
# DEFAULT_MEMBERS (a test keeps them equal): written out here because the CLI imports nothing from train/ until a
# training command runs.
DEFAULT_EPOCHS = 24
DEFAULT_NEGATIVES = 12000
DEFAULT_VARIANTS = 15000
DEFAULT_TYPESET = 0
DEFAULT_MEMBERS = 2


def train_command(
    data: DataOption = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            metavar="N", min=1, help=f"Passes over the training data. Default: {DEFAULT_EPOCHS}; 3 with --corrections."
        ),
    ] = None,
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
    typeset: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Printed digits set in the training fonts, a third with hairlines; 0 for none (the shipped recipe).",
        ),
    ] = DEFAULT_TYPESET,
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
    corrections: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            exists=True,
            dir_okay=False,
            help="Fine-tune a model (--base) on the files people corrected, instead of training from scratch. "
            "Without --data it replays MNIST digits shipped with digitwatch: no download.",
            envvar="DIGITWATCH_CORRECTIONS",
        ),
    ] = None,
    images: Annotated[
        list[Path] | None,
        typer.Option(
            "--images",
            metavar="DIR",
            file_okay=False,
            help="With --corrections: where the corrected files are (repeat for several). "
            "Default: inbox, then processed beside it.",
        ),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            dir_okay=False,
            exists=True,
            help="With --corrections: the .keras model to start from. Default: the shipped model.",
        ),
    ] = None,
) -> None:
    """Train the CNN on MNIST, calibrate it on a validation split and test it once; or, with --corrections,
    fine-tune a model on the files people corrected."""
    from train.data import DataError
    from train.export import ExportError

    if output.suffix != ".keras":
        raise fail(f"--output must end in .keras, got {output}")
    configure_logging()
    # A live progress bar on a terminal; one line per epoch in a log file or CI.
    verbose = 1 if sys.stdout.isatty() else 2
    if corrections is not None:
        return _fine_tune(
            corrections=corrections,
            output=output,
            images=tuple(images or image_folders_beside(DEFAULT_INBOX)),
            base=base,
            data=data,
            epochs=epochs,
            seed=seed,
            verbose=verbose,
        )
    from train.fit import TrainSettings, train

    settings = TrainSettings(
        output=output,
        data=data,
        epochs=epochs or DEFAULT_EPOCHS,
        seed=seed,
        augment=augment,
        negatives=negatives,
        variants=variants,
        typeset=typeset,
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


def _fine_tune(*, epochs: int | None, **options: Any) -> None:
    """`train --corrections`: build the fine-tuning's settings, run it, say what it learnt."""
    from train.data import DataError
    from train.export import ExportError
    from train.finetune import FineTuneError, FineTuneSettings, fine_tune
    from watcher.results.corrections import CorrectionsError

    settings = FineTuneSettings(**options)
    if epochs:
        settings = replace(settings, epochs=epochs)

    try:
        result = fine_tune(settings)
    except (DataError, ExportError, ModelError, FineTuneError, CorrectionsError) as exc:
        raise fail(str(exc)) from exc
    if result.skipped:
        skipped = ", ".join(f"{count} {reason}" for reason, count in result.skipped.items())
        typer.echo(f"corrections skipped: {skipped}", err=True)
    typer.echo(result.mnist.describe())
    typer.echo(
        f"learnt from {result.learnt_from} corrections, {result.held_out} held out. "
        f"Held-out corrections: {result.before.held_out:.2%} -> {result.after.held_out:.2%}; "
        f"MNIST test ({result.mnist.mnist_tested_on:,} digits): "
        f"{result.before.mnist_test:.2%} -> {result.after.mnist_test:.2%}; "
        f"{result.seconds / 60:.1f} min; model written to {result.model_path}"
    )
    typer.echo(f"To use it: digitwatch watch --model {result.model_path} (restart a running service to pick it up).")
