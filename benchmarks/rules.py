"""Which hand-written rule of the normaliser turned a page away (its `no_digit` detail) or flagged its digit
(an `uncertain` detail the reading gave), named.

Both benchmarks count each rule's false rejections (real digits it refused or flagged) per condition. The
rules are those of `watcher.reading.rules`, each with a row here, so a rule added there is counted without
a change to this file.
"""

from __future__ import annotations

import numpy as np

from watcher.reading.rules import Rule, rule_of

__all__ = ["false_rejection_table", "name_of"]


def name_of(detail: str) -> str:
    """The name of the rule a `no_digit` detail, or an `uncertain` one from the reading, comes from."""
    rule = rule_of(detail)
    return rule.title if rule is not None else "other: " + detail[:40]


def _refused_by_rule(statuses: np.ndarray, details: np.ndarray) -> np.ndarray:
    """Rows a rule refused (no_digit, with any detail) or flagged (uncertain, with a flagging rule's message)."""
    flagging = [rule for rule in Rule if rule.status == "uncertain"]
    doubted = (statuses == "uncertain") & np.array([rule_of(d) in flagging for d in details], dtype=bool)
    return np.asarray((statuses == "no_digit") | doubted)


def false_rejection_table(conditions: np.ndarray, statuses: np.ndarray, details: np.ndarray) -> list[str]:
    """Per rule: the real digits it refused, in all and in the condition where it refused most."""
    names = list(dict.fromkeys(conditions))
    refused = _refused_by_rule(statuses, details)
    lines = [f"{'rule (real digits refused)':<36}{'all':>8}{'share':>9}   worst condition"]
    named = np.array([name_of(d) for d in details], dtype=object)
    others = sorted({name for name in named[refused] if name not in {rule.title for rule in Rule}})
    for rule in [*(rule.title for rule in Rule), *others]:
        hits = refused & (named == rule)
        worst = max(names, key=lambda name: hits[conditions == name].mean())
        share = hits[conditions == worst].mean()
        where = f"{share:.2%} in {worst}" if hits.any() else "-"
        lines.append(f"{rule:<36}{int(hits.sum()):>8}{hits.mean():>9.3%}   {where}")
    return lines
