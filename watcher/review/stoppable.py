"""uvicorn's server, stopped also by a signal that came before uvicorn's own handlers were in place."""

from __future__ import annotations

import uvicorn

from watcher.signals import SignalStop


class StoppableServer(uvicorn.Server):
    """uvicorn's server, which also ends once `stop` is set.

    `review` puts in its own stop handlers before it announces the address; a
    signal that comes before uvicorn replaces them is seen only by ours, and
    without this check the server would run on as if none had come.
    """

    def __init__(self, config: uvicorn.Config, stop: SignalStop) -> None:
        super().__init__(config)
        self.stop = stop

    async def on_tick(self, counter: int) -> bool:
        """Called every tenth of a second while serving; True ends the serving."""
        if self.stop.is_set():
            self.should_exit = True
        return bool(await super().on_tick(counter))
