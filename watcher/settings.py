"""The settings objects the commands build; precedence is option > environment variable > default.

Typer resolves that precedence (each option names its DIGITWATCH_* variable);
after that, code passes these frozen objects around, never loose options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_INBOX = Path("inbox")
DEFAULT_RESULTS = Path("results") / "predictions.csv"
IMAGE_PATTERNS = ("*.png", "*.jpg", "*.jpeg", "*.bmp", "*.tif", "*.tiff", "*.webp", "*.gif", "*.pgm", "*.ppm", "*.pbm")


@dataclass(frozen=True)
class ClassifySettings:
    """What `digitwatch classify` needs."""

    paths: tuple[Path, ...]
    results: Path | None = None  # None: print CSV on standard output
    model: Path | None = None  # None: the shipped model
    patterns: tuple[str, ...] = IMAGE_PATTERNS
    neutralise_formulas: bool = True


@dataclass(frozen=True)
class WatchSettings:
    """What `digitwatch watch` needs."""

    inbox: Path = DEFAULT_INBOX
    results: Path = DEFAULT_RESULTS
    model: Path | None = None
    patterns: tuple[str, ...] = IMAGE_PATTERNS
    recursive: bool = False
    poll_seconds: float | None = None  # None: native file-system events
    settle_seconds: float = 0.25
    rescan_interval_seconds: float = 180.0
    after: str = "keep"  # keep | move | delete
    processed_dir: Path | None = None
    failed_dir: Path | None = None
    once: bool = False
    neutralise_formulas: bool = True
    log_level: str = "INFO"
    log_format: str = "plain"  # plain | json
    summary_interval_seconds: float = 60.0
