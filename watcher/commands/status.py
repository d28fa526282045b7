"""`digitwatch status`: is the service running, from its status file beside the results CSV."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from watcher.commands import fail
from watcher.ops.heartbeat import HEARTBEAT_SECONDS
from watcher.ops.status import Health, StatusError, check_status
from watcher.settings import DEFAULT_RESULTS

# What to do next, for each way of not being healthy.
NEXT_STEP = {
    Health.STOPPED: "digitwatch was stopped; start it with `digitwatch watch` "
    "(under systemd: `systemctl start digitwatch`).",
    Health.NOT_RUNNING: "digitwatch is not running: it crashed or was killed. See why in its log "
    "(`journalctl -u digitwatch`), then start it again.",
    Health.STALE: "digitwatch runs but has stopped reporting: it may be stuck. Look at its log "
    "(`journalctl -u digitwatch`) and restart it; if the results folder is slow, "
    "raise --stale-after.",
}


def _stale_seconds(value: float) -> float:
    """Refuse a threshold a healthy service would cross between two heartbeats, or one never crossed."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    if value < HEARTBEAT_SECONDS:
        raise typer.BadParameter(
            f"{value:g} s is less than the {HEARTBEAT_SECONDS:g} s between two heartbeats of the service, "
            f"so a healthy service would look stuck; give at least {HEARTBEAT_SECONDS:g}"
        )
    return value


def status_command(
    results: Annotated[
        Path,
        typer.Option(
            metavar="CSV",
            help="The results CSV the service writes; its status file lies beside it.",
            envvar="DIGITWATCH_RESULTS",
            dir_okay=False,
        ),
    ] = DEFAULT_RESULTS,
    stale_after: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            callback=_stale_seconds,
            help=f"A heartbeat older than this means the service is stuck; at least {HEARTBEAT_SECONDS:g} "
            "(the service writes one that often).",
        ),
    ] = 30.0,
) -> None:
    """Say whether the watch service is running; exit 0 only when it is and its heartbeat is fresh."""
    try:
        report = check_status(results, stale_after=stale_after)
    except StatusError as exc:
        raise fail(
            f"{exc}. Is `digitwatch watch` running with these results? If it writes another CSV, "
            "pass it with --results (or DIGITWATCH_RESULTS)."
        ) from exc
    typer.echo(report.summary)
    if not report.ok:
        raise fail(NEXT_STEP[report.health])
