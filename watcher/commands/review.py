"""`digitwatch review`: a local page to check doubtful rows and correct them with the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import fail
from watcher.model.backends import ExtraMissing
from watcher.ops.logs import configure_logging
from watcher.protocol import LogLevel
from watcher.review.server import ReviewError, serve
from watcher.settings import ReviewSettings

DEFAULTS = ReviewSettings()  # the one source of the defaults below


def review_command(
    results: Annotated[
        Path,
        typer.Option(metavar="CSV", help="The results CSV to review.", envvar="DIGITWATCH_RESULTS", dir_okay=False),
    ] = DEFAULTS.results,
    inbox: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="The watched folder the results' file names are relative to.",
            envvar="DIGITWATCH_INBOX",
            file_okay=False,
        ),
    ] = DEFAULTS.inbox,
    images: Annotated[
        list[Path] | None,
        typer.Option(
            "--images",
            metavar="DIR",
            help="Where to look for the files (repeat for several). Default: the inbox, then 'processed' beside it.",
            file_okay=False,
        ),
    ] = None,
    corrections: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV",
            help="Append corrections here. Default: corrections.csv beside the results.",
            envvar="DIGITWATCH_CORRECTIONS",
            dir_okay=False,
        ),
    ] = DEFAULTS.corrections,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Listen here. Any address but loopback needs the token for every request.",
            envvar="DIGITWATCH_REVIEW_HOST",
        ),
    ] = DEFAULTS.host,
    port: Annotated[
        int,
        typer.Option(
            metavar="PORT",
            min=0,
            max=65535,
            help="Listen on this port (0: any free one).",
            envvar="DIGITWATCH_REVIEW_PORT",
        ),
    ] = DEFAULTS.port,
    token: Annotated[
        str | None,
        typer.Option(
            metavar="TEXT",
            help="The secret every write (and, off loopback, every read) needs. Default: a new random one each start.",
            envvar="DIGITWATCH_REVIEW_TOKEN",
        ),
    ] = DEFAULTS.token,
    reviewer: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="Written in each correction's reviewer column.", envvar="DIGITWATCH_REVIEWER"
        ),
    ] = DEFAULTS.reviewer,
    below: Annotated[
        float,
        typer.Option(
            metavar="CONFIDENCE",
            min=0.0,
            max=1.0,
            help="Queue ok rows under this confidence too (the page can change it).",
        ),
    ] = DEFAULTS.below,
    spot_check: Annotated[
        float,
        typer.Option(
            metavar="PCT",
            min=0.0,
            max=100.0,
            help="Also queue this percent of the ok rows at or above --below, marked 'spot check', to measure how "
            "often a sure answer is wrong (the same rows each time; see `digitwatch report`). 0: none.",
            envvar="DIGITWATCH_SPOT_CHECK",
        ),
    ] = DEFAULTS.spot_check,
) -> None:
    """Serve a page to check uncertain, no-digit, low-confidence and recent error rows (and, with --spot-check, a
    share of sure ones); corrections are appended to corrections.csv and the results CSV is never edited. Stop with
    Ctrl+C."""
    configure_logging(LogLevel.INFO)
    settings = ReviewSettings(
        results=results,
        corrections=corrections,
        images=tuple(images or ()),
        inbox=inbox,
        host=host,
        port=port,
        token=token,
        reviewer=reviewer,
        below=below,
        spot_check=spot_check,
    )
    try:
        serve(settings, announce=lambda url: typer.echo(f"Review page: {url}  (Ctrl+C to stop)", err=True))
    except (ReviewError, ExtraMissing) as exc:
        raise fail(str(exc)) from exc
