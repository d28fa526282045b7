"""One rule for the optional parts some tests need: skip where a part is missing, fail where it is required.

The parts are things a developer's machine may lack: `browser` (Chromium and
chromedriver), `spark` (Java, pyspark and pyarrow) and `mnist` (the full
MNIST file in ../shared/data). DIGITWATCH_REQUIRE_<PART>=1 makes a missing
part a failure instead of a skip; .ci/run sets it for every part, so CI can
never pass by skipping what it is there to check.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

PARTS = ("browser", "spark", "mnist")


def required(part: str) -> bool:
    """True where DIGITWATCH_REQUIRE_<PART> is "1"."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; the parts are {PARTS}")
    return os.environ.get(f"DIGITWATCH_REQUIRE_{part.upper()}") == "1"


def require_or_skip(part: str, why: str) -> NoReturn:
    """Stop the test that needs `part`, which is missing for the reason `why`: a skip, or a failure where required."""
    if required(part):
        pytest.fail(f"{part} is missing and DIGITWATCH_REQUIRE_{part.upper()}=1: {why}", pytrace=False)
    pytest.skip(f"{part} is missing: {why} (DIGITWATCH_REQUIRE_{part.upper()}=1 makes this a failure)")
