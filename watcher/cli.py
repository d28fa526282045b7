"""The `digitwatch` command: one typer app, one small module per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperArgument, TyperCommand

from watcher import __version__
from watcher.commands import classify, convert, evaluate, export, report, review, status, train, watch

if TYPE_CHECKING:
    from typer import _click  # typer's own copy of click: only for the types of the overrides below


class Command(TyperCommand):
    """A command whose help names its arguments as click does: `PATH...`, with no `<type>` beside them.

    typer writes a required argument as `{paths}...` in the usage line and adds
    its Python type (`<list[Path]>`); options drop theirs through `metavar=`,
    arguments cannot. An argument's metavar names one value.
    """

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        """`[OPTIONS] PATH...`: an optional argument in brackets, as click writes it."""
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_label(arg) if arg.required else f"[{_label(arg)}]" for arg in self._arguments(ctx)]

    def format_options(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """An "Arguments" list of labels and help, then the options as typer writes them, by panel.

        An option's `rich_help_panel` names its section ("Spark engine (--engine spark)"), after the
        plain "Options"; typer shows panels only with Rich, which this app turns off.
        """
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                if not param.hidden:
                    sections["Arguments"].append((_label(param), param.help or ""))
            elif record := param.get_help_record(ctx):
                sections.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def _arguments(self, ctx: _click.Context) -> list[TyperArgument]:
        return [param for param in self.get_params(ctx) if isinstance(param, TyperArgument)]


def _label(argument: TyperArgument) -> str:
    """PATH, or PATH... for an argument that takes several values."""
    name = argument.metavar or (argument.name or "").upper()
    return name + ("..." if argument.nargs != 1 else "")


app = typer.Typer(
    name="digitwatch",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: it wraps long help and variable names at 80 columns, where the Rich
    # panels cut them off with "…", and it prints no type beside flags (`--once <bool>`).
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    """`--version`: runs before any command (the option is eager) and exits."""
    if value:
        typer.echo(f"digitwatch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Classify handwritten digits dropped into a folder; write filename, digit, confidence to a CSV."""


# Name, function and the one line `digitwatch --help` shows; a command's docstring is its own --help.
COMMANDS: list[tuple[str, Callable[..., None], str]] = [
    ("watch", watch.watch_command, "Watch a folder and classify each image dropped into it."),
    ("classify", classify.classify_command, "Classify image files and folders once; one CSV row per file."),
    ("train", train.train_command, "Train a model on MNIST, calibrate it and test it once."),
    ("evaluate", evaluate.evaluate_command, "Measure a model's accuracy and calibration on MNIST test."),
    ("convert", convert.convert_command, "Convert a .keras model to LiteRT, served without TensorFlow."),
    ("review", review.review_command, "Serve a page to check doubtful rows and correct them with the keyboard."),
    ("report", report.report_command, "Write a page of charts and counts from the results CSV."),
    ("export", export.export_command, "Write the final table: the model's answers with people's corrections."),
    ("status", status.status_command, "Say whether the watch service is running and healthy."),
]
for name, function, summary in COMMANDS:
    app.command(name, cls=Command, short_help=summary)(function)
