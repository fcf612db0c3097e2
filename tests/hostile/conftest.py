"""The hostile suite shares the end-to-end suite's real process and client."""

from tests.e2e.conftest import http, server

__all__ = ["http", "server"]
