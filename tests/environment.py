"""What a test needs from the machine, and what happens when it is not there."""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip, saying why, when run by hand; fail in CI (CI=true), where nothing may be skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)
