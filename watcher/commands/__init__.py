"""One module per `digitwatch` command; each only parses options and calls a library function."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

# Options several commands share, declared once so their help and variables agree.
ModelOption = Annotated[
    Optional[Path],
    typer.Option(help="A .keras or .h5 model. Default: the model shipped with digitwatch.",
                 envvar="DIGITWATCH_MODEL", dir_okay=False),
]
DataOption = Annotated[
    Optional[Path],
    typer.Option(help="MNIST as a Keras-layout .npz or a folder of the four IDX files (plain or .gz). "
                      "Default: download with Keras (needs the internet once).",
                 envvar="DIGITWATCH_DATA", exists=True),
]
NeutraliseOption = Annotated[
    bool,
    typer.Option("--neutralise-formulas/--keep-formulas",
                 help="Prefix file names starting with = + - @ tab or CR with ' so spreadsheets show them as text.",
                 envvar="DIGITWATCH_NEUTRALISE_FORMULAS"),
]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print an error for a person on stderr and return the Exit to raise."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


def configure_logging(level: str = "INFO") -> None:
    """Plain log lines on stderr, so stdout stays clean CSV."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
