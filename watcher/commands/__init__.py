"""One module per `digitwatch` command; each only parses options and calls a library function."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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


def neutralise_option(*, panel: str | None = None) -> Any:
    """--neutralise-formulas/--keep-formulas, in the help section `panel` (None: "Options")."""
    return typer.Option(
        "--neutralise-formulas/--keep-formulas",
        help="Put ' before file names starting with = + - @ tab or CR, so spreadsheets show them as text.",
        envvar="DIGITWATCH_NEUTRALISE_FORMULAS",
        rich_help_panel=panel,
    )


def read_timeout_option(*, panel: str | None = None) -> Any:
    """--read-timeout SECONDS, in the help section `panel` (None: "Options")."""
    return typer.Option(
        metavar="SECONDS",
        min=0.1,
        max=3600.0,
        help="Longest a decode worker may spend opening a file or reading one page of it; "
        "past it the file gets an error row.",
        envvar="DIGITWATCH_READ_TIMEOUT",
        rich_help_panel=panel,
    )


NeutraliseOption = Annotated[bool, neutralise_option()]

MaxPagesOption = Annotated[
    int,
    typer.Option(
        metavar="N",
        min=1,
        help="Most pages read from one PDF or TIFF; a longer document gets one error row and no page rows.",
        envvar="DIGITWATCH_MAX_PAGES",
    ),
]
ReadTimeoutOption = Annotated[float, read_timeout_option()]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print an error for a person on stderr and return the Exit to raise."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


@dataclass(frozen=True)
class GivenOption:
    """An option the user set: its name as given (`--no-watch`), and the variable it came from, if any."""

    name: str
    envvar: str | None = None  # None: given on the command line


def given_options(ctx: typer.Context, *, panel: str) -> list[GivenOption]:
    """The options of help section `panel` that the user set, on the command line or in the environment.

    Judged by where each value came from, not by comparing it with the
    default: `--after keep` given to the local engine is still given, and
    still ignored there.
    """
    given = []
    for param in ctx.command.params:
        if getattr(param, "rich_help_panel", None) != panel or param.name is None:
            continue
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            continue
        # A flag given as its "off" form (--no-watch, --keep-formulas) is named so.
        off = param.secondary_opts and ctx.params.get(param.name) is False
        name = param.secondary_opts[0] if off else param.opts[0]
        given.append(GivenOption(name, _envvar_set(param.envvar) if source.name == "ENVIRONMENT" else None))
    return given


def _envvar_set(envvar: str | Sequence[str] | None) -> str:
    """The option's environment variable that is set (the first, when it reads several)."""
    names = [envvar] if isinstance(envvar, str) else list(envvar or ())
    return next((name for name in names if name in os.environ), " or ".join(names))


def results_folder_exists(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Refuse a results CSV given in a folder that does not exist, instead of creating that folder.

    A typo, or a network share that is not mounted, would otherwise send the
    rows to a new folder on the local disk. The default results/ folder is
    still created when needed.
    """
    source = ctx.get_parameter_source(param.name or "")
    if value is None or source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
        return value
    folder = value.parent.absolute()
    if folder.is_dir():
        return value
    # click's message names the option and its variable: "Invalid value for '--results' (env var: ...)".
    if folder.exists():
        raise typer.BadParameter(f"{folder} is not a folder")
    raise typer.BadParameter(
        f"folder {folder} does not exist (digitwatch creates only the default results/ folder): "
        "create it, or check that the share is mounted"
    )
