"""Write a whole text file so that a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def write_atomically(out: Path, write: Callable[[TextIO], object], *, newline: str | None = None) -> None:
    """Call `write` on a temporary file beside `out`, flush it to disk, then rename it into place.

    The file gets the permissions a plain `open` would give it (mkstemp's are
    owner-only). Raises OSError; the temporary file never stays behind.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", newline=newline, encoding="utf-8") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
