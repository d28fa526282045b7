"""Which hand-written rule of the normaliser turned a page away (its `no_digit` detail) or flagged its digit
(an `uncertain` detail the reading gave), named.

Both benchmarks count each rule's false rejections (real digits it refused or flagged) per condition.
"""

from __future__ import annotations

import numpy as np

RULES = {  # a prefix of the detail -> the rule's name
    "no ink": "blank or too faint",
    "no digit: only ruled lines": "only lines, borders or boxes",
    "no digit: only specks": "specks",
    "no digit: ink is scattered": "scattered like noise",
    "no digit: ink is a wide horizontal": "wide horizontal stroke",
    "no digit: ink is a solid block": "solid block",
    "digit too small": "digit too small",
    "no digit: a ": "strip, not a page",
    "no digit: the image": "too few pixels or channels",
}
DOUBTS = {  # a phrase of an uncertain row's detail -> the reading's rule that flagged it
    "part of the ink was dropped": "fragment: ink dropped (uncertain)",
}


def rule_of(detail: str) -> str:
    """The rule a `no_digit` detail, or an `uncertain` one from the reading, comes from."""
    for prefix, name in RULES.items():
        if detail.startswith(prefix):
            return name
    for phrase, name in DOUBTS.items():
        if phrase in detail:
            return name
    return "other: " + detail[:40]


def false_rejection_table(conditions: np.ndarray, statuses: np.ndarray, details: np.ndarray) -> list[str]:
    """Per rule: the real digits it refused, in all and in the condition where it refused most."""
    names = list(dict.fromkeys(conditions))
    doubted = (statuses == "uncertain") & np.array([any(p in d for p in DOUBTS) for d in details], dtype=bool)
    refused = (statuses == "no_digit") | doubted
    lines = [f"{'rule (real digits refused)':<36}{'all':>8}{'share':>9}   worst condition"]
    used = sorted({rule_of(d) for d in details[refused]} | set(RULES.values()) | set(DOUBTS.values()))
    for rule in used:
        hits = refused & np.array([rule_of(d) == rule for d in details])
        worst = max(names, key=lambda name: hits[conditions == name].mean())
        share = hits[conditions == worst].mean()
        where = f"{share:.2%} in {worst}" if hits.any() else "-"
        lines.append(f"{rule:<36}{int(hits.sum()):>8}{hits.mean():>9.3%}   {where}")
    return lines
