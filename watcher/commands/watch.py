"""`digitwatch watch`: the hot-folder service (placeholder until the service lands)."""

from __future__ import annotations

import typer


def watch_command() -> None:
    """Watch the inbox and classify every image dropped into it."""
    raise typer.Exit(code=1)
