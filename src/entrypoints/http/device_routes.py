"""HTTP routes of device check-ins: the fleet as devices see it, one device, forget one.

A blueprint of its own, registered only while check-ins are on (`CHECKINS=off` leaves these
paths to the framework's `404 NOT_FOUND`, and out of the OpenAPI document)."""

from __future__ import annotations

import msgspec
from quart import Blueprint, Response, current_app, request
from quart_schema import document_querystring, document_response, tag

from domain.checkins import Device, DeviceState
from domain.model import MacAddress
from domain.use_cases import ForgetDevice, GetDevice, ListDevices
from entrypoints.http.answer import JSON_TYPE, Answer
from entrypoints.http.dependencies import resolve
from entrypoints.http.encoded import encoded
from entrypoints.http.errors import counted
from entrypoints.http.responses import respond
from entrypoints.http.route_docs import EXAMPLE_DEVICE, EXAMPLE_DEVICES, describe
from entrypoints.http.routes import errors
from entrypoints.http.schemas import DeviceListOut, DeviceOut, DevicesQuery
from entrypoints.observability.metrics import Metrics

blueprint = Blueprint("devices", __name__)

DEVICES_ROUTE = "/api/devices"
DEVICE_ROUTE = f"{DEVICES_ROUTE}/<mac:mac_address>"


@blueprint.get(DEVICES_ROUTE)
@document_querystring(DevicesQuery)
@document_response(DeviceListOut)
@errors(400, 503)
@tag(["check-ins"])
@describe(response_examples={200: EXAMPLE_DEVICES})
async def list_devices() -> Response:
    """List every device: each MAC that has a config or has checked in, sorted by MAC.

    Every download of a device's file is a check-in, seen through every replica within
    `CHECKIN_FLUSH_SECONDS` (10 s) and a second. `state` says whether the device holds the
    config stored now; `?state=` (repeatable) keeps only the devices in those states, say
    `?state=unknown` for the devices asking for a config that does not exist yet.
    """
    with counted(resolve(Metrics), "devices"):
        states = DevicesQuery.parse(request.args.getlist("state"))
        devices = await resolve(ListDevices).execute(states)
    # Kept while the use case hands back the same answer (nothing changed, no state changed
    # with time).
    body = encoded("devices", states, devices, lambda listed: _encode_devices(listed, states))
    return respond(Answer(200, dict(JSON_TYPE), body))


def _encode_devices(devices: tuple[Device, ...], states: frozenset[DeviceState]) -> bytes:
    """The list's body, each device's part kept from the last encoding of the same filter
    while it is the very same `Device` (the use case hands back unchanged devices as they
    were): with a fleet polling, a read re-encodes the few devices that changed, not all
    20,000. The envelope is the schema's own encoding of an empty list, so the shape has one
    definition."""
    memo: dict[frozenset[DeviceState], dict[int, tuple[Device, bytes]]]
    memo = current_app.extensions.setdefault(_PARTS, {})
    kept = memo.get(states, {})
    parts: dict[int, tuple[Device, bytes]] = {}
    for device in devices:
        part = kept.get(id(device))
        if part is None or part[0] is not device:
            part = (device, msgspec.json.encode(DeviceOut.from_domain(device)))
        parts[id(device)] = part
    # Only the devices of this filter's last list: bounded by the fleet, per filter (at most
    # 2**5 of them).
    memo[states] = parts
    empty = msgspec.json.encode(DeviceListOut(devices=[], count=len(devices)))
    head, tail = empty.split(b"[]", 1)
    return b"".join((head, b"[", b",".join(part for _, part in parts.values()), b"]", tail))


# Where the parts of the last lists' bodies are kept, per app and filter (a device kept with
# its part, so its id cannot be another's).
_PARTS = "iot_support.devices.parts"


@blueprint.get(DEVICE_ROUTE)
@document_response(DeviceOut)
@errors(400, 404, 503)
@tag(["check-ins"])
@describe(response_examples={200: EXAMPLE_DEVICE})
async def get_device(mac_address: str) -> Response:
    """Get one device.

    Its config (if any) against the version it last downloaded. `404` when it has neither a
    config nor a check-in.
    """
    with counted(resolve(Metrics), "devices"):
        device = await resolve(GetDevice).execute(MacAddress.parse(mac_address, "get device"))
    body = msgspec.json.encode(DeviceOut.from_domain(device))
    return respond(Answer(200, dict(JSON_TYPE), body))


@blueprint.delete(DEVICE_ROUTE)
@errors(400, 404, 503)
@tag(["check-ins"])
@describe(empty={204: "Forgotten; no body."})
async def forget_device(mac_address: str) -> Response:
    """Forget a device's check-ins, on the share, for every replica (its config is untouched).

    A device that downloads its file again is seen again. `404` when none were kept.
    """
    with counted(resolve(Metrics), "devices"):
        await resolve(ForgetDevice).execute(MacAddress.parse(mac_address, "forget device"))
    return respond(Answer(204))
