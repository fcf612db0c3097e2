"""HTTP routes of device check-ins: the fleet as devices see it, one device, forget one.

A blueprint of its own, registered only while check-ins are on (`CHECKINS=off` leaves these
paths to the framework's `404 NOT_FOUND`, and out of the OpenAPI document)."""

from __future__ import annotations

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from domain.checkins import Device
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
    # Kept while the use case hands back the same answer (nothing changed, within a second).
    body = encoded("devices", states, devices, _encode_devices)
    return respond(Answer(200, dict(JSON_TYPE), body))


def _encode_devices(devices: tuple[Device, ...]) -> bytes:
    return msgspec.json.encode(DeviceListOut.from_domain(devices))


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
