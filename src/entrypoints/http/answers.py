"""What the reads both lanes serve answer: a device file, an admin get (and health, in
storage_checks.py); and a config answer (admin get, save). The Quart routes and the fast lane
each call these, so a read is parsed, counted and answered by this code alone, success or error
(errors are raised, and each lane answers them through `errors.failed`)."""

from __future__ import annotations

import msgspec

from domain.model import ConfigDocument, MacAddress, StoredConfig
from domain.use_cases import GetConfigDocument, GetDeviceConfig
from entrypoints.http.answer import JSON_TYPE, Answer
from entrypoints.http.conditional import Conditions, device_file_headers, unchanged, validators
from entrypoints.http.errors import counted
from entrypoints.http.large_json import off_the_loop
from entrypoints.http.schemas import DeviceConfigOut
from entrypoints.observability.metrics import Metrics


async def device_file(
    fetch: GetConfigDocument, metrics: Metrics, mac_address: str, conditions: Conditions
) -> Answer:
    """`GET /api/configs/<mac>.json`: the stored bytes themselves, or 304 while unchanged."""
    with counted(metrics, "download"):
        document = await fetch.execute(MacAddress.parse(mac_address, "get config file"))
    if unchanged(document, conditions):
        return not_modified(document)
    return Answer(200, {**JSON_TYPE, **device_file_headers(document)}, document.body)


async def admin_config(
    get: GetDeviceConfig, metrics: Metrics, mac_address: str, conditions: Conditions
) -> Answer:
    """`GET /api/configs/<mac>`: the config with its summary fields, or 304 while unchanged."""
    with counted(metrics, "get"):
        stored = await get.execute(MacAddress.parse(mac_address, "get config"))
    if unchanged(stored.document, conditions):
        return not_modified(stored.document)
    return await config(stored)


async def config(stored: StoredConfig) -> Answer:
    """A config with its summary fields, encoded with msgspec straight from its typed schema
    (quart-schema's `validate_response` would build a dict and re-encode it with the standard
    library, a third of an admin get's cost); a large one on the large-JSON thread."""
    body = await off_the_loop(len(stored.document.body), _config_body, stored)
    return Answer(200, {**JSON_TYPE, **validators(stored.document)}, body)


def _config_body(stored: StoredConfig) -> bytes:
    return msgspec.json.encode(DeviceConfigOut.from_domain(stored))


def not_modified(document: ConfigDocument) -> Answer:
    # The device file's headers: a 304 updates what the client holds, the file.
    return Answer(304, device_file_headers(document))
