"""What the reads both lanes serve answer: a device file, an admin get (and health, in
storage_checks.py); and a config answer (admin get, save). The Quart routes and the fast lane
each call these, so a read is parsed, counted and answered by this code alone, success or error
(errors are raised, and each lane answers them through `errors.failed`)."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import msgspec

from domain.checkins import CheckIn
from domain.errors import DeviceConfigNotFound
from domain.model import ConfigDocument, MacAddress, StoredConfig
from domain.use_cases import GetConfigDocument, GetDeviceConfig, RecordCheckIn
from entrypoints.http.answer import JSON_TYPE, Answer
from entrypoints.http.conditional import Conditions, device_file_headers, unchanged, validators
from entrypoints.http.errors import counted
from entrypoints.http.large_json import off_the_loop
from entrypoints.http.schemas import DeviceConfigOut
from entrypoints.observability.logs import client_address
from entrypoints.observability.metrics import Metrics


@attrs.frozen
class Caller:
    """Who downloads a device file, as the access log names them."""

    client: str
    user_agent: str | None

    @classmethod
    def of(cls, peer: str | None, header: Callable[[str], str | None], trusted: bool) -> Caller:
        """`header` looks a request header up (given in lower case); `trusted`: whether
        X-Forwarded-For is believed (TRUST_PROXY_HEADERS)."""
        forwarded_for = header("x-forwarded-for")
        return cls(client_address(peer, forwarded_for, trusted), header("user-agent"))


async def device_file(
    fetch: GetConfigDocument,
    metrics: Metrics,
    check_in: RecordCheckIn,
    mac_address: str,
    conditions: Conditions,
    caller: Caller,
) -> Answer:
    """`GET /api/configs/<mac>.json`: the stored bytes themselves, or 304 while unchanged.
    Each answer for a well-formed MAC (200, 304, 404) is a check-in of the device."""
    with counted(metrics, "download"):
        mac = MacAddress.parse(mac_address, "get config file")
        try:
            document = await fetch.execute(mac)
        except DeviceConfigNotFound:
            check_in.execute(CheckIn(mac, time.time(), 404, None, caller.client, caller.user_agent))
            raise
    if unchanged(document, conditions):
        status, answer = 304, not_modified(document)
    else:
        body_headers = {**JSON_TYPE, **device_file_headers(document)}
        status, answer = 200, Answer(200, body_headers, document.body)
    check_in.execute(
        CheckIn(mac, time.time(), status, document.revision, caller.client, caller.user_agent)
    )
    return answer


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
