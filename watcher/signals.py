"""Signal handlers that take no lock: each only stores the signal's number.

A handler runs between any two bytecodes of the main thread, even while that
thread holds a lock the handler would need: a handler that logs, prints,
puts on a queue or sets a `threading.Event` (whose `set` takes the lock of
its condition) can deadlock the process it was meant to stop. So the
handlers here store the signal's number in a `Caught`, one attribute store,
and nothing else. Whatever waits learns of it by polling that (`is_set`), or
at once when it selects on a wakeup descriptor, to which Python's own C
handler writes the signal's number before any Python code runs.

The service (watcher.service.wakeup), the Spark driver (watcher.spark) and
the review server (watcher.review.server) all stop on signals through
`catching`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Caught:
    """The last signal caught for one purpose; written by the handler alone, read by the code it stops."""

    def __init__(self) -> None:
        self.number: int | None = None

    def take(self) -> int | None:
        """The signal caught since the last take, if any, and forget it."""
        number, self.number = self.number, None
        return number


class SignalStop:
    """Whether a stop was asked for: by a stop signal (caught while `stopping_on_signals` was in force),
    or by code through `event` (a test, an embedding program), from any thread."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()
        self.caught = Caught()

    def is_set(self) -> bool:
        """True once a stop was asked for."""
        return self.caught.number is not None or self.event.is_set()

    def set(self) -> None:
        """Ask for a stop from code (any thread)."""
        self.event.set()


@contextmanager
def catching(routes: Mapping[int, Caught], *, wakeup_fd: int | None = None) -> Iterator[Callable[[], None]]:
    """While inside, each signal in `routes` only stores its number in its Caught (main thread only:
    Python's rule for handlers; elsewhere nothing is installed).

    With `wakeup_fd`, Python's C handler also writes the signal's number to that
    descriptor at once (a socket the caller selects on). Yields a function that
    installs the handlers again, for after a library has put in its own;
    the previous handlers and wakeup descriptor come back on leaving.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    targets = dict(routes)  # a copy: the handler looks up a plain dict, nothing that may run code

    def handler(number: int, _frame: FrameType | None) -> None:
        targets[number].number = number  # only this: see the module docstring

    def install() -> None:
        for number in targets:
            signal.signal(number, handler)

    previous = {number: signal.getsignal(number) for number in targets}
    install()
    previous_fd = None
    if wakeup_fd is not None:
        previous_fd = signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
    try:
        yield install
    finally:
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        for number, old in previous.items():
            if old is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(number, old)


@contextmanager
def stopping_on_signals(stop: SignalStop, *, wakeup_fd: int | None = None) -> Iterator[Callable[[], None]]:
    """`catching` SIGTERM and SIGINT into `stop`: either asks it to stop."""
    with catching(dict.fromkeys(STOP_SIGNALS, stop.caught), wakeup_fd=wakeup_fd) as install:
        yield install
