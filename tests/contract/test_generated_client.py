"""A real client generated from our OpenAPI document, as the admin UI's build makes one:
openapi-typescript's types, TanStack-style hook names from the operationIds, and `tsc --strict`
over code that uses them the way the UI does (`client/client.ts`, `client/hooks.ts`).

The tools are pinned in `client/package-lock.json`; `scripts/test.sh` installs them with
`npm ci`. Without them this test fails rather than skips: it is the only proof that the UI
still builds against this service.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CLIENT = Path(__file__).with_name("client")
BIN = CLIENT / "node_modules" / ".bin"
USED_BY_THE_UI = [
    "useDeleteConfigsByMacAddress",
    "useGetConfigs",
    "useGetConfigsByMacAddress",
    "usePutConfigsByMacAddress",
]


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=120, check=False
    )


def build_client(
    document: dict[str, Any], where: Path
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Generate the types and hooks from `document` into `where` and type-check the client
    code there: the hook names, and the completed `tsc` run."""
    missing = "the client tools are missing: run `npm ci` in tests/contract/client (test.sh does)"
    assert shutil.which("node"), missing
    assert (BIN / "tsc").exists(), missing
    for name in ("client.ts", "hooks.ts", "tsconfig.json"):
        shutil.copy(CLIENT / name, where / name)
    (where / "generated").mkdir()
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    generated = run(BIN / "openapi-typescript", spec, "-o", where / "generated" / "schema.ts")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    hooks = run("node", CLIENT / "generate-hooks.mjs", spec, where / "generated" / "hooks.ts")
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    return hooks.stdout.split(), run(BIN / "tsc", "-p", where)


@pytest.mark.slow
async def test_a_client_generated_from_our_document_compiles(
    document: dict[str, Any], tmp_path: Path
) -> None:
    hooks, compiled = build_client(document, tmp_path)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert set(USED_BY_THE_UI) <= set(hooks)


@pytest.mark.slow
async def test_the_check_fails_when_content_is_a_closed_object(
    document: dict[str, Any], tmp_path: Path
) -> None:
    """The mistake the UI met: `content` without `additionalProperties: true` generates an
    object type with no keys, and the UI's code does not compile."""
    schemas = document["components"]["schemas"]
    schemas["ConfigSaveRequestSchema.6be28b6"]["properties"]["content"] = {"type": "object"}
    _, compiled = build_client(document, tmp_path)
    assert compiled.returncode != 0
    assert "client.ts" in compiled.stdout


@pytest.mark.slow
async def test_the_check_fails_when_an_operation_is_renamed(
    document: dict[str, Any], tmp_path: Path
) -> None:
    document["paths"]["/api/configs"]["get"]["operationId"] = "get_list_configs"
    _, compiled = build_client(document, tmp_path)
    assert compiled.returncode != 0
    assert "useGetConfigs" in compiled.stdout
