"""How often the model and the people who checked its rows agree, and how often a sure answer is wrong.

A checked row is a reading (the latest results row for one content of one
file and page) with the correction that wins for it, as the review page shows
it. The model's answer is its digit, or "not a digit" when it gave none
(`no_digit`, `error`); the person agrees when their label is that answer.

Spot checks are told apart with the results alone, so the corrections file
keeps its columns: a checked `ok` row at or above the review threshold
(`below`) was not queued for its confidence, so a spot check drew it (see
`watcher.review.spot`). Those rows are a fair sample of the `ok` rows nobody
else looks at, and the share of them a person corrected estimates how many
of those are wrong, with a 95% Wilson score interval.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.protocol import NOT_A_DIGIT, Status
from watcher.results.corrections import Correction, corrections_by_file, winning
from watcher.results.schema import ResultRow
from watcher.review.spot import Why, why_queued

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
ANSWERS = (*(str(digit) for digit in range(10)), NOT_A_DIGIT)  # the confusion matrix's rows and columns, in order


@dataclass(frozen=True)
class Checked:
    """A reading a person checked, what they said, and why it was in front of them."""

    record: ResultRow
    correction: Correction
    why: Why

    @property
    def model_answer(self) -> str:
        """The model's digit as a label, or NOT_A_DIGIT when it gave none."""
        return NOT_A_DIGIT if self.record.digit is None else str(self.record.digit)

    @property
    def agrees(self) -> bool:
        """Whether the person gave the model's answer."""
        return self.correction.label == self.model_answer


@dataclass(frozen=True)
class Tally:
    """Checked rows of one kind, and how many of them the person agreed with."""

    checked: int
    agreed: int

    @property
    def share(self) -> float | None:
        """The share agreed, or None when none was checked."""
        return self.agreed / self.checked if self.checked else None


@dataclass(frozen=True)
class Estimate:
    """A share of a sample (`hits` of `size`) with its 95% Wilson score interval."""

    hits: int
    size: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        """The share observed."""
        return self.hits / self.size


@dataclass(frozen=True)
class Agreement:
    """What the corrections say of the model."""

    readings: int  # readings in the results
    checked: int  # of them, checked by a person
    groups: dict[tuple[Status, Why], Tally]  # per status and why it was queued; only kinds with a checked row
    confusion: Counter[tuple[str, str]]  # (model's answer, person's label) -> rows, both from ANSWERS
    wrong_but_ok: Estimate | None  # spot-checked ok rows a person corrected; None before the first spot check

    def by_status(self, status: Status) -> Tally:
        """The checked rows of one status, whatever put them in the queue."""
        tallies = [tally for (kind, _), tally in self.groups.items() if kind == status]
        return Tally(sum(t.checked for t in tallies), sum(t.agreed for t in tallies))


def wilson(hits: int, size: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the proportion hits / size (Wilson, 1927).

    Unlike p +/- z*sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty for
    0 hits, which is what a good model gives most spot checks.
    """
    if size <= 0 or not 0 <= hits <= size:
        raise ValueError(f"need 0 <= hits <= size and size > 0, not {hits} of {size}")
    p, n = hits / size, size
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def checked_rows(records: Iterable[ResultRow], corrections: Iterable[Correction], *, below: float) -> list[Checked]:
    """Each reading that has a correction, with it, in the order the contents first appeared."""
    latest: dict[tuple[str, int | None, str], ResultRow] = {}
    for record in records:
        latest[(record.filename, record.page, record.sha256)] = record
    by_file = corrections_by_file(corrections)
    found = []
    for record in latest.values():
        correction = winning(by_file.get(record.key, []), record.sha256)
        if correction is not None:
            found.append(Checked(record, correction, why_queued(record, below)))
    return found


def agreement(records: Iterable[ResultRow], corrections: Iterable[Correction], *, below: float) -> Agreement:
    """Agreement per status and reason, the confusion matrix, and the wrong-but-ok estimate from spot checks."""
    records = list(records)
    checked = checked_rows(records, corrections, below=below)
    counts: Counter[tuple[Status, Why, bool]] = Counter((c.record.status, c.why, c.agrees) for c in checked)
    groups = {
        (status, why): Tally(counts[status, why, True] + counts[status, why, False], counts[status, why, True])
        for status, why, _ in sorted(counts)
    }
    spot = [c for c in checked if c.record.status == Status.OK and c.why == Why.SPOT_CHECK]
    wrong = sum(not c.agrees for c in spot)
    return Agreement(
        readings=len({(r.filename, r.page, r.sha256) for r in records}),
        checked=len(checked),
        groups=groups,
        confusion=Counter((c.model_answer, c.correction.label) for c in checked),
        wrong_but_ok=Estimate(wrong, len(spot), *wilson(wrong, len(spot))) if spot else None,
    )
