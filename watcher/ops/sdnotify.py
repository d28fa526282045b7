"""systemd `Type=notify` support: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.

Written here rather than taken from a library because the protocol
(sd_notify(3)) is one datagram of `KEY=value` lines sent to the Unix socket
named by `$NOTIFY_SOCKET`. The Python packages for it add nothing we need:
systemd-python is a C extension that needs libsystemd headers to build,
and the pure-Python ones wrap the same dozen lines.

Every function is a no-op outside systemd, and a send failure is logged at
debug level and returned as False, never raised: a broken notify socket must
never stop the service.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send `message` (one or more `KEY=value` lines) to systemd; False when not under systemd or it failed."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket: Linux names them with a leading NUL byte
    elif not address.startswith("/"):
        log.debug("NOTIFY_SOCKET=%r is neither a path nor an abstract socket; not notifying", address)
        return False
    family = getattr(socket, "AF_UNIX", None)
    if family is None:  # no Unix sockets on this platform, so no systemd either
        return False
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # Never wait: a receiver whose queue is full would otherwise block the service loop.
            sock.setblocking(False)
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        log.debug("could not notify systemd at %r: %s", address, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects WATCHDOG=1 from this process, or None when it expects none."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    try:
        if pid and int(pid) != os.getpid():
            return None  # inherited from a parent that systemd watches, not meant for us
        microseconds = int(usec)
    except ValueError:
        log.debug("ignoring WATCHDOG_USEC=%r, WATCHDOG_PID=%r: not integers", usec, pid)
        return None
    return microseconds / 1_000_000 if microseconds > 0 else None
