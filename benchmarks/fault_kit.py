"""What every fault needs: a fresh folder laid out like a deployment, digit files to drop, a steady dropper."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_run import WatchProcess, digit_pngs

Figures = dict[str, Any]  # what a fault measured, with "passed"


@dataclass(frozen=True)
class Folder:
    """A temp folder holding an inbox, the results CSV beside it and the service's log."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def results(self) -> Path:
        return self.root / "results" / "predictions.csv"

    @property
    def log(self) -> Path:
        return self.root / "service.log"

    def sub(self, name: str) -> Folder:
        """A fresh folder inside this one, for a second scenario of the same fault."""
        folder = Folder(self.root / name)
        folder.inbox.mkdir(parents=True)
        return folder

    def watch(
        self, *options: str, preexec_fn: Callable[[], None] | None = None, pipe_log: bool = False
    ) -> WatchProcess:
        """Start `digitwatch watch` on this folder with extra options."""
        self.results.parent.mkdir(parents=True, exist_ok=True)  # watch refuses --results in a missing folder
        args = ["--inbox", str(self.inbox), "--results", str(self.results), *options]
        return WatchProcess(args, self.log, marker=str(self.inbox), preexec_fn=preexec_fn, pipe_log=pipe_log)


def new_folder(root: Path) -> Folder:
    """The folder a fault starts from: an empty inbox."""
    folder = Folder(root)
    folder.inbox.mkdir(parents=True)
    return folder


def png(index: int = 0) -> bytes:
    """One small MNIST digit as PNG bytes."""
    pngs = digit_pngs()
    return pngs[index % len(pngs)]


def drop_pngs(inbox: Path, count: int, prefix: str, *, start: int = 0) -> list[str]:
    """Write `count` digit PNGs in place as `PREFIX00000.png`, ...; return their names."""
    names = [f"{prefix}{index:05d}.png" for index in range(start, start + count)]
    for index, name in enumerate(names, start=start):
        (inbox / name).write_bytes(png(index))
    return names


class Dropper(threading.Thread):
    """Drops one digit every `interval` seconds until stopped; a context manager."""

    def __init__(self, inbox: Path, prefix: str, *, interval: float = 0.2) -> None:
        super().__init__(name="fault-dropper", daemon=True)
        self.inbox, self.prefix, self.interval = inbox, prefix, interval
        self._halt = threading.Event()

    def run(self) -> None:
        for index in itertools.count():
            if self._halt.wait(self.interval):
                return
            drop_pngs(self.inbox, 1, self.prefix, start=index)

    def __enter__(self) -> Dropper:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._halt.set()
        self.join()
