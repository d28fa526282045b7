"""The images people corrected, found again and normalised as the service read them: fine-tuning's data."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from watcher.protocol import Status
from watcher.reading.documents import on_page
from watcher.reading.imaging import normalise_page
from watcher.reading.loading import ImageError, read_image_bytes
from watcher.results.corrections import Correction, corrections_by_file, find_file, read_corrections, winning

log = logging.getLogger(__name__)

NOT_A_DIGIT_LABEL = -1  # in `labels`: the person said the file holds no digit


class Skip(StrEnum):
    """Why a correction gave no training image (the keys of `Corrected.skipped`)."""

    MISSING = "file not found in the image folders"
    CHANGED = "file changed since it was corrected"
    UNREADABLE = "file or page could not be read"
    NO_INK = "no ink to learn from (a blank or too faint page)"


@dataclass
class Corrected:
    """Normalised images (N, 28, 28, 1) with their labels (digit, or NOT_A_DIGIT_LABEL), and what was skipped."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    corrections_sha256: str
    skipped: Counter[Skip] = field(default_factory=Counter)


def gather(corrections_path: Path, folders: tuple[Path, ...]) -> Corrected:
    """Each file (and page) a person corrected, read from the first folder holding it and checked
    against the hash in its correction; the last correction that applies to its content wins."""
    digest = hashlib.sha256(corrections_path.read_bytes()).hexdigest() if corrections_path.is_file() else ""
    images, labels, names = [], [], []
    skipped: Counter[Skip] = Counter()
    for (name, page), corrections in corrections_by_file(read_corrections(corrections_path)).items():
        found = _image(name, page, corrections, folders)
        if isinstance(found, Skip):
            skipped[found] += 1
            log.warning("correction of %s%s skipped: %s", name, f" page {page}" if page else "", found)
            continue
        image, correction = found
        images.append(image)
        labels.append(NOT_A_DIGIT_LABEL if correction.digit is None else correction.digit)
        names.append(name if page is None else f"{name} page {page}")
    return Corrected(
        images=np.asarray(images, np.float32).reshape(-1, 28, 28, 1),
        labels=np.asarray(labels, np.int64),
        names=names,
        corrections_sha256=digest,
        skipped=skipped,
    )


def _image(
    name: str, page: int | None, corrections: list[Correction], folders: tuple[Path, ...]
) -> tuple[np.ndarray, Correction] | Skip:
    """The normalised image and the correction that applies to it, or why there is none."""
    path = find_file(name, folders)
    if path is None:
        return Skip.MISSING
    try:
        data = read_image_bytes(path)
    except ImageError:
        return Skip.UNREADABLE
    correction = winning(corrections, hashlib.sha256(data).hexdigest())
    if correction is None:
        return Skip.CHANGED
    try:
        return on_page(data, page, normalise_page), correction
    except ImageError as exc:
        return Skip.NO_INK if exc.kind == Status.NO_DIGIT else Skip.UNREADABLE
