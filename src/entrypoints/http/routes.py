"""HTTP routes of the config API: thin handlers that parse, call a use case and shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_request, document_response, tag
from werkzeug.routing import PathConverter

from domain.errors import StorageUnavailable
from domain.model import ConfigListing, DeviceConfig, MacAddress
from domain.use_cases import (
    DeleteDeviceConfig,
    GetConfigDocument,
    GetDeviceConfig,
    ListDeviceConfigs,
    PatchDeviceConfig,
    RecordCheckIn,
    SaveDeviceConfig,
)
from entrypoints.http import answers
from entrypoints.http.answer import JSON_TYPE, Answer
from entrypoints.http.conditional import Conditions, write_condition
from entrypoints.http.dependencies import resolve
from entrypoints.http.encoded import encoded
from entrypoints.http.errors import counted
from entrypoints.http.origin import write_origin
from entrypoints.http.responses import respond
from entrypoints.http.route_docs import (
    EXAMPLE_CONFIG,
    EXAMPLE_CONTENT,
    EXAMPLE_SKIPPED,
    EXAMPLE_SUMMARY,
    VALIDATION_ERROR,
    VALIDATORS,
    conditional_get,
    describe,
)
from entrypoints.http.schemas import (
    DeviceConfigFileOut,
    DeviceConfigIn,
    DeviceConfigListOut,
    DeviceConfigOut,
    DeviceConfigPatchIn,
    ErrorOut,
    read_json_body,
    read_merge_patch,
)
from entrypoints.observability.metrics import Metrics
from entrypoints.settings import Settings

blueprint = Blueprint("configs", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def errors(*statuses: int) -> Callable[[F], F]:
    """Document the error envelope for each status a route may answer with."""

    def decorator(func: F) -> F:
        for status in statuses:
            func = document_response(ErrorOut, status)(func)
        return func

    return decorator


class MacAddressConverter(PathConverter):
    """The MAC segment of `/api/configs/<mac>`: anything, "/" included, so that a bad MAC reaches
    the handler and is refused as a bad MAC (400) rather than "no such route" (404); but never
    ending in `.json`, which is the device file's read-only URL (other methods there are 405)."""

    # Nor a `/history` segment or a final `/restore`: `/api/configs/<mac>/history` and
    # `.../restore` are routes of their own (history_routes.py).
    regex = r"(?:(?!/history(?:/|$)|/restore$)[\s\S])+?(?<!\.json)"
    # Werkzeug would take a regex without "/" as one path segment only.
    part_isolating = False


class DeviceFileConverter(PathConverter):
    """The MAC segment of `/api/configs/<mac>.json`: as Werkzeug's `path`, less a `/history/`
    segment (a revision's file, `<mac>/history/<revision>.json`, has a route of its own)."""

    regex = r"(?!.*/history/)[^/].*?"


class RevisionConverter(PathConverter):
    """A revision id: twelve digits (anything else is no such revision: 404)."""

    regex = r"[0-9]{12}"
    part_isolating = True


CONVERTERS = {
    "mac": MacAddressConverter,
    "device_file": DeviceFileConverter,
    "revision": RevisionConverter,
}
CONFIG_ROUTE = "/api/configs/<mac:mac_address>"
CONFIG_FILE_ROUTE = "/api/configs/<device_file:mac_address>.json"


@blueprint.get("/api/configs")
@document_response(DeviceConfigListOut)
@errors(503)
@tag(["configs"])
@describe(
    response_examples={
        200: {
            "configs": [EXAMPLE_SUMMARY],
            "count": 1,
            "skipped": [EXAMPLE_SKIPPED],
        }
    },
    previous_responses={
        400: (
            VALIDATION_ERROR,
            "Never answered by this service; documented as the previous service did, so that "
            "clients generated for it keep their types.",
        )
    },
)
async def list_configs() -> Response:
    """List all device configs.

    Returns the summary fields of every stored config, sorted by MAC address. Entries of the
    configs directory that are not a usable config (not named `<mac>.json`, not a JSON object,
    a symbolic link, ...) are left out of `configs` and `count`, and listed in `skipped` with
    the reason, so that an admin sees them without reading logs.
    """
    metrics = resolve(Metrics)
    # What this listing found is what the next scrape shows, unless it lists itself.
    try:
        with counted(metrics, "list"):
            listing = await resolve(ListDeviceConfigs).execute()
    except StorageUnavailable:
        metrics.storage_seen(None)
        raise
    metrics.storage_seen(listing)
    return respond(Answer(200, dict(JSON_TYPE), encoded_listing(listing)))


def encoded_listing(listing: ConfigListing) -> bytes:
    """The list answer, encoded with msgspec straight from the typed schema, and kept while the
    repository hands back the same listing (nothing changed): at 20,000 devices encoding is most
    of a list's cost."""
    return encoded("listing", None, listing, _encode_listing)


def _encode_listing(listing: ConfigListing) -> bytes:
    return msgspec.json.encode(DeviceConfigListOut.from_domain(listing))


def conditions() -> Conditions:
    return Conditions.of(request.headers.get)


@blueprint.get(CONFIG_ROUTE)
@document_response(DeviceConfigOut)
@errors(400, 404, 503)
@tag(["configs"])
@conditional_get
@describe(response_examples={200: EXAMPLE_CONFIG})
async def get_config(mac_address: str) -> Response:
    """Get one device config with its summary fields.

    The MAC address may be written `aa-bb-cc-dd-ee-ff` or `AA:BB:CC:DD:EE:FF`; the answer always
    carries the canonical lower-case, dash-separated form. The `ETag` names the stored version:
    send it back in `If-None-Match` to get `304 Not Modified` while it is unchanged, or in
    `If-Match` on a write so that it only applies to that version.
    """
    return respond(
        await answers.admin_config(
            resolve(GetDeviceConfig), resolve(Metrics), mac_address, conditions()
        )
    )


@blueprint.get(CONFIG_FILE_ROUTE)
@document_response(DeviceConfigFileOut)
@errors(400, 404, 503)
@tag(["devices"])
@conditional_get
@describe(response_examples={200: EXAMPLE_CONTENT})
async def get_config_file(mac_address: str) -> Response:
    """Download a device's config file (what devices fetch).

    Answers the stored JSON object itself, unwrapped, exactly as stored. A device that polls
    should send the `ETag` it last got in `If-None-Match`: while nothing changed the answer is
    `304 Not Modified` with no body.
    """
    trusted = resolve(Settings).trust_proxy_headers
    return respond(
        await answers.device_file(
            resolve(GetConfigDocument),
            resolve(Metrics),
            resolve(RecordCheckIn),
            mac_address,
            conditions(),
            answers.Caller.of(request.remote_addr, request.headers.get, trusted),
        )
    )


@blueprint.put(CONFIG_ROUTE)
@document_request(DeviceConfigIn)
@document_response(DeviceConfigOut)
@errors(400, 409, 412, 413, 415, 503)
@tag(["configs"])
@describe(
    request_headers=("If-Match", "If-None-Match"),
    response_headers={200: VALIDATORS},
    # Create only: "Try it out" as prefilled cannot replace anyone's config.
    request_example={"content": EXAMPLE_CONTENT, "allow_overwrite": False},
    response_examples={200: EXAMPLE_CONFIG},
)
async def put_config(mac_address: str) -> Response:
    """Create or replace a device config.

    `content` is stored as a JSON object, pretty-printed, its keys in the order sent; numbers
    are written back in a canonical form (`1e2` is stored as `100.0`). With
    `"allow_overwrite": false` (the example's, so that trying it cannot replace a config) an
    existing config is left untouched and the answer is `409 RECORD_EXISTS`.
    `If-Match: "<etag>"` replaces only that version and `If-None-Match: *` only creates;
    otherwise the answer is `412 PRECONDITION_FAILED` and nothing is written.
    """
    with counted(resolve(Metrics), "save"):
        mac = MacAddress.parse(mac_address, "save config")
        body = await read_json_body(DeviceConfigIn)
        stored = await resolve(SaveDeviceConfig).execute(
            DeviceConfig(mac, body.content),
            allow_overwrite=body.allow_overwrite,
            condition=write_condition(),
            origin=write_origin(),
        )
    return respond(await answers.config(stored))


@blueprint.patch(CONFIG_ROUTE)
@document_request(DeviceConfigPatchIn)
@document_response(DeviceConfigOut)
@errors(400, 404, 412, 413, 415, 503)
@tag(["configs"])
@describe(
    request_headers=("If-Match",),
    response_headers={200: VALIDATORS},
    request_media_types=("application/merge-patch+json", "application/json"),
    request_example={"enableOTA": False, "wifi": {"powerSave": "min_modem"}, "mqtt": None},
    response_examples={200: EXAMPLE_CONFIG},
)
async def patch_config(mac_address: str) -> Response:
    """Change part of a device config with a JSON Merge Patch (RFC 7396).

    Send `Content-Type: application/merge-patch+json` (or `application/json`, read the same
    way). Members of the patch replace those of the
    stored object, nested objects merge, and `null` deletes a key; the result must still be a JSON
    object. Answers like `PUT`; `If-Match` applies here too.
    """
    with counted(resolve(Metrics), "patch"):
        mac = MacAddress.parse(mac_address, "patch config")
        patch = await read_merge_patch()
        stored = await resolve(PatchDeviceConfig).execute(
            mac, patch, condition=write_condition(), origin=write_origin()
        )
    return respond(await answers.config(stored))


@blueprint.delete(CONFIG_ROUTE)
@errors(400, 404, 412, 503)
@tag(["configs"])
@describe(request_headers=("If-Match",), empty={204: "Deleted; no body."})
async def delete_config(mac_address: str) -> Response:
    """Delete a device config.

    Answers `204` with no body. `If-Match: "<etag>"` deletes only that version.
    """
    with counted(resolve(Metrics), "delete"):
        await resolve(DeleteDeviceConfig).execute(
            MacAddress.parse(mac_address, "delete config"),
            condition=write_condition(),
            origin=write_origin(),
        )
    return respond(Answer(204))
