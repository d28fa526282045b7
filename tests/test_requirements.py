"""The one rule for the optional parts tests need (tests/requirements.py): a skip, or a failure where required."""

from __future__ import annotations

import pytest

from requirements import PARTS, require_or_skip, required


@pytest.mark.parametrize("part", PARTS)
def test_a_missing_part_skips_and_fails_only_where_required_with_1(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    variable = f"DIGITWATCH_REQUIRE_{part.upper()}"
    monkeypatch.delenv(variable, raising=False)
    assert not required(part)
    with pytest.raises(pytest.skip.Exception, match=f"{part} is missing: not on this machine"):
        require_or_skip(part, "not on this machine")
    for value in ("0", "", "yes"):  # only "1" requires, as .ci/run sets it
        monkeypatch.setenv(variable, value)
        with pytest.raises(pytest.skip.Exception):
            require_or_skip(part, "not on this machine")
    monkeypatch.setenv(variable, "1")
    assert required(part)
    with pytest.raises(pytest.fail.Exception, match=f"{variable}=1: not on this machine"):
        require_or_skip(part, "not on this machine")


def test_an_unknown_part_is_a_mistake_not_a_skip() -> None:
    with pytest.raises(ValueError, match="unknown part 'java'"):
        require_or_skip("java", "a typo for spark")
