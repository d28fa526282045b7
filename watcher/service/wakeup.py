"""How the service loop waits: on a doorbell that hints, stop requests and signals ring.

Why not a timed wait on a queue, with a signal handler that sets a flag:
in CPython 3.11 a timed `queue.SimpleQueue.get` that a signal interrupts,
whose handler then runs past the remaining timeout, waits forever (the
recomputed timeout is negative, which means "no limit"). The service hung
on SIGTERM that way. Here the loop only ever waits in `select`, which
retries an interrupted wait with the time left and gives up once it is
spent, and every waker (an observer thread, a signal, a caller's stop)
writes a byte to a socket the loop selects on. Signal handlers only store
the signal's number (`watcher.signals`): no lock, no logging, no I/O, since
a handler runs between any two bytecodes of the main thread, even while
that thread holds a lock the handler would need; Python's C handler writes
to the doorbell.
"""

from __future__ import annotations

import logging
import queue
import select
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from watcher.protocol import Decision, HintKind
from watcher.signals import STOP_SIGNALS, Caught, SignalStop, catching

log = logging.getLogger(__name__)

Hint = tuple[HintKind, Path]


class Doorbell:
    """A socket pair: `ring` from any thread (or the C signal handler), `wait` in the loop."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def ring(self) -> None:
        """Wake the loop; never blocks (a full buffer already holds a ring)."""
        with suppress(OSError):  # full (a ring is pending anyway) or closed (shutting down)
            self._writer.send(b"\0")

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a ring; True if one came. Always returns in time."""
        ready, _, _ = select.select([self._reader], [], [], max(0.0, timeout))
        if ready:
            try:
                while self._reader.recv(4096):
                    pass
            except OSError:  # drained
                pass
        return bool(ready)

    def signal_fd(self) -> int:
        """The descriptor for `signal.set_wakeup_fd`: Python's C handler writes to it at once."""
        return self._writer.fileno()

    def close(self) -> None:
        """Close both ends."""
        self._reader.close()
        self._writer.close()


class HintQueue:
    """Hints from the observer's threads to the loop; putting one rings the doorbell."""

    def __init__(self, doorbell: Doorbell) -> None:
        self._queue: queue.SimpleQueue[Hint] = queue.SimpleQueue()  # put never blocks, even re-entered
        self._doorbell = doorbell

    def put(self, kind: HintKind, path: Path) -> None:
        """Queue a hint and wake the loop."""
        self._queue.put((kind, path))
        self._doorbell.ring()

    def drain(self) -> Iterator[Hint]:
        """The hints queued now, without waiting; not those that arrive meanwhile, so a flood of
        events cannot keep the loop from its other work (stopping, the watchdog)."""
        for _ in range(self._queue.qsize()):
            try:
                yield self._queue.get_nowait()  # never a timed get: see the module docstring
            except queue.Empty:
                return

    def qsize(self) -> int:
        """Hints waiting (approximate)."""
        return self._queue.qsize()


class StopRequest(SignalStop):
    """Whether the service was asked to stop, by a signal or through a caller's event.

    A caller (a test, an embedding program) sets its `threading.Event`; the
    loop sees it within one tick. A signal also rings the doorbell, so the
    loop sees it at once.
    """

    def __init__(self, event: threading.Event | None = None, doorbell: Doorbell | None = None) -> None:
        super().__init__(event)
        self.doorbell = doorbell
        self._announced = False

    def is_set(self) -> bool:
        """True once a stop was asked for; logs the signal the first time it is seen."""
        number = self.caught.number
        if number is not None and not self._announced:
            self._announced = True
            log.info(
                "received %s: finishing the batch in hand, then exiting",
                signal.Signals(number).name,
                extra={"decision": Decision.STOPPING},
            )
        return super().is_set()

    def set(self) -> None:
        """Ask for a stop from code (any thread), and wake the loop."""
        super().set()
        if self.doorbell is not None:
            self.doorbell.ring()


class ReloadRequest:
    """Whether SIGHUP asked for the model to be loaded again; the loop takes the request between batches."""

    def __init__(self) -> None:
        self.caught = Caught()  # written by the handler, read by the loop

    def take(self) -> bool:
        """True once per request."""
        return self.caught.take() is not None


@contextmanager
def stop_on_signals(stop: StopRequest, reload: ReloadRequest | None = None) -> Iterator[None]:
    """SIGTERM and SIGINT request a stop, and SIGHUP (where there is one) a model reload, while inside
    (main thread only: Python's rule for handlers); each rings the doorbell through the wakeup descriptor."""
    routes: dict[int, Caught] = dict.fromkeys(STOP_SIGNALS, stop.caught)
    if reload is not None and hasattr(signal, "SIGHUP"):  # Windows has none
        routes[signal.SIGHUP] = reload.caught
    wakeup_fd = stop.doorbell.signal_fd() if stop.doorbell is not None else None
    with catching(routes, wakeup_fd=wakeup_fd):
        yield
