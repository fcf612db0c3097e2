"""schemathesis against the app's own OpenAPI document, over real HTTP to the real process.

Every operation in the document is called with generated data, valid and invalid, in all of
schemathesis' phases and with all of its checks: no answer may be a 5xx, and every answer must
have a documented status, content type, headers and body.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import RunningServer

pytestmark = pytest.mark.e2e

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


SERVER_ENV = {"MAX_CONFIG_BYTES": "65536"}


def test_every_operation_conforms_to_the_document(server: RunningServer, tmp_path: Path) -> None:
    # The CLI rather than the pytest plugin: the plugin does not load under pytest 9 yet.
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.base_url}/api/openapi.json",
            "--checks",
            "all",
            # A deleted config keeps its history (API.md, "History"), so `GET .../history`
            # answering 200 after the DELETE is the feature; this check cannot be told which
            # GETs it may expect a 404 of. tests/http/test_configs_api.py checks that a deleted
            # config's GET and download are 404.
            "--exclude-checks",
            "use_after_free",
            "--max-examples",
            "100",
            "--generation-deterministic",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    assert "Tested: 17" in result.stdout, result.stdout[-5_000:]
    print(result.stdout[result.stdout.find("SUMMARY") :])
