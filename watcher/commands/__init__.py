"""One module per `digitwatch` command; each only parses options and calls a library function."""

from __future__ import annotations

import logging
import sys

import typer


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
