"""The `digitwatch` command: one typer app, one small module per command."""

from __future__ import annotations

import typer

from watcher.commands import classify, evaluate, train, watch

app = typer.Typer(
    name="digitwatch",
    help="Classify handwritten digits dropped into a folder; write filename, digit, confidence to a CSV.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("watch")(watch.watch_command)
app.command("classify")(classify.classify_command)
app.command("train")(train.train_command)
app.command("evaluate")(evaluate.evaluate_command)
