"""The hostile suite shares the end-to-end suite's client (and the root conftest's process)."""

from tests.e2e.conftest import http

__all__ = ["http"]
