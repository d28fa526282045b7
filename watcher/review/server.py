"""Run the review application with uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from watcher.model.backends import ExtraMissing
from watcher.settings import ReviewSettings
from watcher.signals import SignalStop, stopping_on_signals

log = logging.getLogger(__name__)

REVIEW_EXTRA = "pip install 'digitwatch[review]'"  # what adds FastAPI, uvicorn and Jinja2


class ReviewError(Exception):
    """The review page cannot be served (the address is taken, or not ours to bind)."""


def serve(settings: ReviewSettings, *, announce: Callable[[str], None]) -> None:
    """Serve the review page until stopped; `announce(url)` says where, once it listens.

    The socket is bound here rather than by uvicorn, so the address printed is
    the one really bound (with --port 0, the port the system chose).
    """
    try:
        import uvicorn

        from watcher.review.app import create_app
        from watcher.review.stoppable import StoppableServer
    except ImportError as exc:
        raise ExtraMissing(
            f"the review page needs FastAPI, uvicorn and Jinja2 ({exc}); install them with: {REVIEW_EXTRA}"
        ) from exc
    app = create_app(settings)
    listener = _bind(settings.host, settings.port)
    port = listener.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    token = app.state.review.token
    loopback = settings.host in ("127.0.0.1", "localhost", "::1")
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    # uvicorn shuts down on SIGINT and SIGTERM, then raises the signal again for the handler it found;
    # with Python's defaults that kills the process (SIGTERM) or raises KeyboardInterrupt (Ctrl+C), so a
    # clean stop would exit -15 or 130. The handler found is ours, which only notes the signal (no lock,
    # see watcher.signals), so the stop uvicorn carried out ends with exit 0, as `watch` does. Ours is
    # in place before the address is announced, and a signal it caught before uvicorn put in its own
    # stops the server at its first tick.
    stop = SignalStop()
    try:
        with stopping_on_signals(stop):
            announce(f"http://{host}:{port}/" + ("" if loopback else f"?token={token}"))
            StoppableServer(config, stop).run(sockets=[listener])
    finally:
        listener.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ReviewError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass another --port (or --host)"
        ) from exc
    listener.set_inheritable(False)
    return listener
