"""One module per `digitwatch` command; each only parses options and calls a library function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Options several commands share, declared once so their help and variables agree.
# A metavar names the value in the help (typer would print the Python type, e.g. <file>).
ModelOption = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="A .keras, .h5 or .tflite model file. Default: the shipped model.",
        envvar="DIGITWATCH_MODEL",
        dir_okay=False,
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="MNIST: a Keras-layout .npz, or a folder of the four IDX files "
        "(plain or .gz). Default: download it with Keras (needs the internet once).",
        envvar="DIGITWATCH_DATA",
        exists=True,
    ),
]
NeutraliseOption = Annotated[
    bool,
    typer.Option(
        "--neutralise-formulas/--keep-formulas",
        help="Put ' before file names starting with = + - @ tab or CR, so spreadsheets show them as text.",
        envvar="DIGITWATCH_NEUTRALISE_FORMULAS",
    ),
]

MaxPagesOption = Annotated[
    int,
    typer.Option(
        metavar="N",
        min=1,
        help="Most pages read from one PDF or TIFF; a longer document gets one error row and no page rows.",
        envvar="DIGITWATCH_MAX_PAGES",
    ),
]
ReadTimeoutOption = Annotated[
    float,
    typer.Option(
        metavar="SECONDS",
        min=0.1,
        max=3600.0,
        help="Longest a decode worker may spend opening a file or reading one page of it; "
        "past it the file gets an error row.",
        envvar="DIGITWATCH_READ_TIMEOUT",
    ),
]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print an error for a person on stderr and return the Exit to raise."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)
