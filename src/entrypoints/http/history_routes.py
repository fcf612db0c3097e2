"""HTTP routes of history: revisions, their bytes, diffs, restore and the deleted configs.

A blueprint of its own, registered only while history is on (`HISTORY=off` leaves these paths
to the framework's `404 NOT_FOUND`, and out of the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response, tag

from domain.errors import RevisionHoldsNoBytes
from domain.history import ConfigHistory, Operation
from domain.model import MacAddress
from domain.use_cases import (
    CompareRevisions,
    GetConfigHistory,
    GetRevision,
    ListDeletedConfigs,
    RestoreRevision,
)
from entrypoints.http import answers
from entrypoints.http.answer import JSON_TYPE, Answer
from entrypoints.http.conditional import write_condition
from entrypoints.http.dependencies import resolve
from entrypoints.http.encoded import encoded
from entrypoints.http.errors import counted
from entrypoints.http.origin import write_origin
from entrypoints.http.responses import respond
from entrypoints.http.route_docs import (
    EXAMPLE_CONFIG,
    EXAMPLE_DELETED,
    EXAMPLE_DIFF,
    EXAMPLE_HISTORY,
    EXAMPLE_REVISION,
    VALIDATORS,
    describe,
)
from entrypoints.http.routes import CONFIG_ROUTE, errors
from entrypoints.http.schemas import (
    ConfigHistoryOut,
    DeletedConfigsOut,
    DeviceConfigFileOut,
    DeviceConfigOut,
    DiffQuery,
    HistoryQuery,
    JsonPatchOperationOut,
    RestoreIn,
    RevisionDetailOut,
    read_json_body,
)
from entrypoints.observability.metrics import Metrics

blueprint = Blueprint("history", __name__)

HISTORY_ROUTE = f"{CONFIG_ROUTE}/history"
REVISION_ROUTE = f"{HISTORY_ROUTE}/<revision:revision>"
REVISION_FILE_ROUTE = f"{REVISION_ROUTE}.json"
DIFF_ROUTE = f"{REVISION_ROUTE}/diff"
RESTORE_ROUTE = f"{CONFIG_ROUTE}/restore"
DELETED_ROUTE = "/api/history/deleted"
JSON_PATCH_TYPE = {"Content-Type": "application/json-patch+json"}


@blueprint.get(HISTORY_ROUTE)
@document_querystring(HistoryQuery)
@document_response(ConfigHistoryOut)
@errors(400, 404, 503)
@tag(["history"])
@describe(response_examples={200: EXAMPLE_HISTORY})
async def config_history(mac_address: str) -> Response:
    """List a config's revisions, newest first.

    Every save, patch, restore and delete this service made is a revision, and so is a version
    another program wrote, kept before the next write replaced it. A deleted config keeps its
    history. Pages of `limit` revisions (default 50, at most 1000); pass the last `revision` of
    a page as `before` for the next. `404` when the device has neither a config nor a history.
    """
    with counted(resolve(Metrics), "history"):
        mac = MacAddress.parse(mac_address, "get config history")
        query = HistoryQuery.parse(request.args.get("limit"), request.args.get("before"))
        history = await resolve(GetConfigHistory).execute(
            mac, limit=query.limit, before=query.before
        )
    # Kept while the repository hands back the same page (nothing changed): encoding a page
    # of 100 revisions costs more than finding them.
    body = encoded("history", (mac, query.limit, query.before), history, _encoder(mac))
    return respond(Answer(200, dict(JSON_TYPE), body))


def _encoder(mac: MacAddress) -> Callable[[ConfigHistory], bytes]:
    def encode(history: ConfigHistory) -> bytes:
        return msgspec.json.encode(ConfigHistoryOut.from_domain(mac, history))

    return encode


@blueprint.get(REVISION_ROUTE)
@document_response(RevisionDetailOut)
@errors(400, 404, 503)
@tag(["history"])
@describe(response_examples={200: EXAMPLE_REVISION})
async def config_revision(mac_address: str, revision: str) -> Response:
    """Get one revision of a config, with its content.

    `content` is the config as that revision kept it, or `null` for a delete (and for a version
    another program wrote that was not a JSON object: its file route serves the bytes).
    """
    with counted(resolve(Metrics), "history"):
        mac = MacAddress.parse(mac_address, "get config revision")
        found = await resolve(GetRevision).execute(mac, revision)
        history = await resolve(GetConfigHistory).execute(mac, limit=1)
    body = msgspec.json.encode(RevisionDetailOut.from_content(found, history.current))
    return respond(Answer(200, dict(JSON_TYPE), body))


@blueprint.get(REVISION_FILE_ROUTE)
@document_response(DeviceConfigFileOut)
@errors(400, 404, 503)
@tag(["history"])
@describe(response_headers={200: ("ETag",)})
async def config_revision_file(mac_address: str, revision: str) -> Response:
    """Download the bytes a revision kept, exactly as devices got them then.

    A delete kept no bytes: `404`.
    """
    with counted(resolve(Metrics), "history"):
        mac = MacAddress.parse(mac_address, "get config revision")
        found = await resolve(GetRevision).execute(mac, revision)
        if found.revision.operation is Operation.DELETE:
            raise RevisionHoldsNoBytes(str(mac), revision)
    headers = {**JSON_TYPE, "ETag": f'"{found.revision.etag}"'}
    return respond(Answer(200, headers, found.body))


@blueprint.get(DIFF_ROUTE)
@document_querystring(DiffQuery)
@document_response(JsonPatchOperationOut)
@errors(400, 404, 503)
@tag(["history"])
@describe(
    response_examples={200: EXAMPLE_DIFF},
    response_media_types=("application/json-patch+json",),
    response_array=True,
)
async def revision_diff(mac_address: str, revision: str) -> Response:
    """Compare a revision with another, or with the version stored now.

    Answers an RFC 6902 JSON Patch (`application/json-patch+json`) that turns this revision's
    config into the one `to` names: another revision, or `current` (the default). An empty
    array when they hold the same config. `400` when either is a delete (it holds no config:
    compare the revision before it) or larger than 64 KiB; `404` for an unknown revision, or
    `current` when the config is deleted.
    """
    with counted(resolve(Metrics), "history"):
        mac = MacAddress.parse(mac_address, "compare config revisions")
        query = DiffQuery.parse(request.args.get("to"))
        patch = await resolve(CompareRevisions).execute(mac, revision, query.to)
    return respond(Answer(200, dict(JSON_PATCH_TYPE), msgspec.json.encode(patch)))


@blueprint.post(RESTORE_ROUTE)
@document_request(RestoreIn)
@document_response(DeviceConfigOut)
@errors(400, 404, 412, 413, 415, 503)
@tag(["history"])
@describe(
    request_headers=("If-Match", "If-None-Match"),
    response_headers={200: VALIDATORS},
    request_example={"revision": "000000000001"},
    response_examples={200: EXAMPLE_CONFIG},
)
async def restore_revision(mac_address: str) -> Response:
    """Bring back an earlier version of a config, or a deleted config.

    Stores the bytes `revision` kept as a new version (a revision of its own, operation
    `restore`), so devices get exactly what they got then; announced over MQTT like a save, and
    answered like `PUT`. `If-Match: "<etag>"` restores only over that version, `If-None-Match:
    *` only when no config is stored (undelete, never overwrite). `400` for a delete revision
    (the one before it holds what was deleted), `404` for an unknown one.
    """
    with counted(resolve(Metrics), "restore"):
        mac = MacAddress.parse(mac_address, "restore config")
        body = await read_json_body(RestoreIn)
        stored = await resolve(RestoreRevision).execute(
            mac, body.revision, condition=write_condition(), origin=write_origin()
        )
    return respond(await answers.config(stored))


@blueprint.get(DELETED_ROUTE)
@document_response(DeletedConfigsOut)
@errors(503)
@tag(["history"])
@describe(response_examples={200: EXAMPLE_DELETED})
async def deleted_configs() -> Response:
    """List the deleted configs that can be brought back, newest delete first.

    A config is listed while its newest revision is a delete; restore the revision before
    `revision` to bring it back.
    """
    with counted(resolve(Metrics), "history"):
        deleted = await resolve(ListDeletedConfigs).execute()
    body = msgspec.json.encode(DeletedConfigsOut.from_domain(deleted))
    return respond(Answer(200, dict(JSON_TYPE), body))
