"""The hand-written rules that turn a page away (no digit) or doubt the digit read from it (uncertain),
each named once, with the status it gives and its message.

Every rule throws away a real digit now and then, so the benchmarks count,
for each rule listed here, the real digits it refused or flagged
(benchmarks/rules.py goes through `Rule`): a rule added here shows up in
their tables without a change to them. A rule's message is what users read
in the `detail` column: change its words only on purpose.
"""

from __future__ import annotations

import re
import string
from enum import Enum

from watcher.protocol import Status
from watcher.reading.loading import ImageError


def _pattern(message: str) -> re.Pattern[str]:
    """A regular expression for the messages a template makes: its words as written, anything in its fields."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(message):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(".+?")
    return re.compile("".join(parts))


class Rule(Enum):
    """A rule: what the benchmarks call it, the status of the rows it makes, and its message
    (a `str.format` template)."""

    title: str
    status: Status
    message: str
    pattern: re.Pattern[str]  # matches the messages it makes, whatever the values put in them

    BLANK = ("blank or too faint", Status.NO_DIGIT, "no ink: the image is blank or too faint")
    FEW_PIXELS = ("a few pixels wide", Status.NO_DIGIT, "no digit: the image is only a few pixels wide")
    STRIP = ("strip, not a page", Status.NO_DIGIT, "no digit: a {width}x{height} image is a strip, not a page")
    NO_CHANNELS = ("no colour channels", Status.NO_DIGIT, "no digit: the image has no colour channels")
    ONLY_LINES = ("only lines or borders", Status.NO_DIGIT, "no digit: only ruled lines or borders")
    ONLY_FRAMES = ("only lines, borders or boxes", Status.NO_DIGIT, "no digit: only ruled lines, borders or boxes")
    SPECKS = ("specks", Status.NO_DIGIT, "no digit: only specks of ink")
    SCATTERED = ("scattered like noise", Status.NO_DIGIT, "no digit: ink is scattered like noise")
    WIDE_STROKE = ("wide horizontal stroke", Status.NO_DIGIT, "no digit: ink is a wide horizontal stroke or line")
    TOO_SMALL = (
        "digit too small",
        Status.NO_DIGIT,
        "digit too small to read: about {size:.0f} px on a page {full_side} px long, "
        "where {readable:.0f} px or more can be read",
    )
    # A fragment (a 6 without its hairlines is a "(") is read with full confidence as another digit, so the
    # model's confidence cannot flag it: the reading must. Its row is uncertain, never ok.
    FRAGMENT = (
        "fragment: ink dropped (uncertain)",
        Status.UNCERTAIN,
        "part of the ink was dropped as noise: the digit keeps {kept_share:.0%} of the ink around it",
    )

    def __init__(self, title: str, status: Status, message: str) -> None:
        self.title = title
        self.status = status
        self.message = message
        self.pattern = _pattern(message)

    def text(self, **values: object) -> str:
        """The rule's message with these values put in."""
        return self.message.format(**values)

    def refusal(self, **values: object) -> ImageError:
        """The error that turns a page away under this rule (a `no_digit` rule), to raise."""
        if self.status != Status.NO_DIGIT:
            raise ValueError(f"{self.name} flags a digit, it does not refuse a page")
        return ImageError(self.text(**values), kind=self.status)

    def made(self, reason: str) -> bool:
        """True when `reason` is a message this rule makes."""
        return self.pattern.fullmatch(reason) is not None


def rule_of(detail: str) -> Rule | None:
    """The rule whose message a row's `detail` is or holds (an uncertain row's reasons are joined by "; ")."""
    for reason in detail.split("; "):
        for rule in Rule:
            if rule.made(reason):
                return rule
    return None
