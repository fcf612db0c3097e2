"""API schemas: request and response shapes (attrs classes), and their domain mappers."""

from __future__ import annotations

import datetime
import json
import re
import typing
from typing import Annotated, Any, TypedDict, TypeVar

import attrs
import msgspec
from attrs import AttrsInstance
from quart import request
from werkzeug.exceptions import UnsupportedMediaType

from domain.checkins import Device, DeviceState
from domain.history import (
    CURRENT,
    DEFAULT_HISTORY_PAGE,
    MAX_HISTORY_PAGE,
    ConfigHistory,
    DeletedConfig,
    Revision,
    RevisionContent,
)
from domain.model import (
    MAX_NESTING,
    ConfigListing,
    DeviceConfigSummary,
    MacAddress,
    SkippedFile,
    StoredConfig,
    is_utf8,
    nested_deeper_than,
)
from domain.text import json_type, quoted
from entrypoints.http.errors import RequestValidationFailed
from entrypoints.http.large_json import off_the_loop

T = TypeVar("T", bound=AttrsInstance)

# Response schemas use slots=False: msgspec serialises slotted attrs classes in slot order,
# which attrs sorts by name, and the contract's readers expect `mac_address` first.


@attrs.frozen
class DeviceConfigIn:
    """Body of `PUT /api/configs/{mac_address}`."""

    content: dict[str, Any]
    allow_overwrite: bool = True


REVISION_PATTERN = "^[0-9]{12}$"
RevisionId = Annotated[str, msgspec.Meta(pattern=REVISION_PATTERN)]


@attrs.frozen
class RestoreIn:
    """Body of `POST /api/configs/{mac_address}/restore`: the revision to bring back."""

    revision: RevisionId


class DeviceConfigPatchIn(TypedDict):
    """A JSON Merge Patch (RFC 7396): members replace, nested objects merge, null deletes."""


# The summary fields have defaults, as in the previous service's document: a client generated
# from it types them `string | null` whatever we send, and ours must accept what it accepts.


@attrs.frozen(slots=False)
class DeviceConfigSummaryOut:
    mac_address: str
    device_name: str | None = None
    device_entity_id: str | None = None
    enable_ota: bool | None = None

    @classmethod
    def from_domain(cls, summary: DeviceConfigSummary) -> DeviceConfigSummaryOut:
        return cls(
            mac_address=str(summary.mac_address),
            device_name=summary.device_name,
            device_entity_id=summary.device_entity_id,
            enable_ota=summary.enable_ota,
        )


@attrs.frozen(slots=False)
class DeviceConfigOut:
    mac_address: str
    device_name: str | None = None
    device_entity_id: str | None = None
    enable_ota: bool | None = None
    content: dict[str, Any] = attrs.field(kw_only=True)

    @classmethod
    def from_domain(cls, stored: StoredConfig) -> DeviceConfigOut:
        config = stored.config
        summary = config.summary()
        return cls(
            mac_address=str(config.mac_address),
            device_name=summary.device_name,
            device_entity_id=summary.device_entity_id,
            enable_ota=summary.enable_ota,
            content=config.content,
        )


@attrs.frozen(slots=False)
class SkippedFileOut:
    """An entry of the configs directory that the list leaves out. `problem` is a stable label
    (the `reason` label of the `iot_config_files_skipped` metric); `reason` is for people."""

    name: str
    problem: str
    reason: str

    @classmethod
    def from_domain(cls, skipped: SkippedFile) -> SkippedFileOut:
        # A file name is any bytes but "/" and NUL; those that are not UTF-8 reach Python as
        # lone surrogates, which JSON cannot carry: shown as escapes (`\xff`), as `ls -b` does.
        name = skipped.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return cls(name=name, problem=skipped.problem, reason=skipped.reason)


@attrs.frozen(slots=False)
class DeviceConfigListOut:
    configs: list[DeviceConfigSummaryOut]
    count: int
    # Added by this service (the contract allows new fields), sorted by name. Always sent;
    # optional in the document, so the previous service's component keeps what it accepted.
    skipped: list[SkippedFileOut] = attrs.field(factory=list)

    @classmethod
    def from_domain(cls, listing: ConfigListing) -> DeviceConfigListOut:
        configs = [DeviceConfigSummaryOut.from_domain(summary) for summary in listing.summaries]
        skipped = sorted(
            (SkippedFileOut.from_domain(item) for item in listing.skipped),
            key=lambda item: item.name,
        )
        return cls(configs=configs, count=len(configs), skipped=skipped)


@attrs.frozen(slots=False)
class RevisionOut:
    """One revision of a config: `etag` is the ETag its bytes were (or, for a delete, had)
    served with; `current` is true for the revision the config holds now."""

    revision: str
    etag: str
    operation: str
    saved_at: str
    size: int
    client: str | None
    user: str | None
    correlation_id: str | None
    current: bool

    @classmethod
    def from_domain(cls, revision: Revision, current: str | None) -> RevisionOut:
        origin = revision.origin
        return cls(
            revision=revision.revision,
            etag=f'"{revision.etag}"',
            operation=revision.operation.value,
            saved_at=rfc3339(revision.saved_at),
            size=revision.size,
            client=origin.client,
            user=origin.user,
            correlation_id=origin.correlation_id,
            current=revision.revision == current,
        )


@attrs.frozen(slots=False)
class RevisionDetailOut(RevisionOut):
    """A revision with `content`: the config it kept, or null (a delete, or bytes that were
    not a JSON object)."""

    content: dict[str, Any] | None = attrs.field(kw_only=True)

    @classmethod
    def from_content(cls, found: RevisionContent, current: str | None) -> RevisionDetailOut:
        summary = RevisionOut.from_domain(found.revision, current)
        return cls(**attrs.asdict(summary), content=found.content)


@attrs.frozen(slots=False)
class ConfigHistoryOut:
    mac_address: str
    revisions: list[RevisionOut]
    count: int

    @classmethod
    def from_domain(cls, mac_address: MacAddress, history: ConfigHistory) -> ConfigHistoryOut:
        revisions = [RevisionOut.from_domain(r, history.current) for r in history.revisions]
        return cls(mac_address=str(mac_address), revisions=revisions, count=len(revisions))


@attrs.frozen(slots=False)
class DeletedConfigOut:
    mac_address: str
    deleted_at: str
    # The delete's revision: the one before it holds what was deleted.
    revision: str


@attrs.frozen(slots=False)
class DeletedConfigsOut:
    configs: list[DeletedConfigOut]
    count: int

    @classmethod
    def from_domain(cls, deleted: tuple[DeletedConfig, ...]) -> DeletedConfigsOut:
        configs = [
            DeletedConfigOut(str(item.mac_address), rfc3339(item.deleted_at), item.revision)
            for item in deleted
        ]
        return cls(configs=configs, count=len(configs))


# Documentation only (a diff is answered as jsonpatch makes it); a msgspec Struct, not attrs,
# for the member named `from`.
class JsonPatchOperationOut(msgspec.Struct):
    """The operations, applied in order, that turn one version into the other (RFC 6902): `op`
    is `add`, `remove`, `replace`, `move`, `copy` or `test`; `path` (and `from`, for move and
    copy) are JSON Pointers (RFC 6901)."""

    op: str
    path: str
    value: Any = None
    from_: str | None = msgspec.field(default=None, name="from")


# DeviceState's values, for the document (a test keeps the two the same).
DeviceStateName = typing.Literal["in_sync", "out_of_sync", "never_seen", "unknown", "overdue"]


@attrs.frozen(slots=False)
class DeviceOut:
    """A device: its config (if any) against the version it last downloaded. `config_etag` is
    the ETag a device gets for its file now, `device_etag` the one it holds (as it last told
    us); `state` is `in_sync`, `out_of_sync`, `never_seen` (a config no device fetched),
    `unknown` (a device asking for a config that does not exist) or `overdue` (silent for more
    than 3x its usual poll interval, `poll_interval_seconds`, which is `null` until known)."""

    mac_address: str
    has_config: bool
    config_etag: str | None
    device_etag: str | None
    state: DeviceStateName
    last_seen_at: str | None
    last_status: int | None
    client: str | None
    user_agent: str | None
    poll_interval_seconds: float | None
    device_name: str | None

    @classmethod
    def from_domain(cls, device: Device) -> DeviceOut:
        record = device.record
        interval = record.poll_interval if record is not None else None
        return cls(
            mac_address=str(device.mac_address),
            has_config=device.has_config,
            config_etag=_quoted_etag(device.config_etag),
            device_etag=_quoted_etag(record.device_etag if record else None),
            state=device.state.value,
            last_seen_at=rfc3339(record.last_seen_at) if record else None,
            last_status=record.last_status if record else None,
            client=record.client if record else None,
            user_agent=record.user_agent if record else None,
            poll_interval_seconds=round(interval, 3) if interval is not None else None,
            device_name=device.device_name,
        )


@attrs.frozen(slots=False)
class DeviceListOut:
    devices: list[DeviceOut]
    count: int


def _quoted_etag(etag: str | None) -> str | None:
    # As the ETag header carries it, so a client compares the two as they are.
    return f'"{etag}"' if etag is not None else None


@attrs.frozen
class DevicesQuery:
    """The query of `GET /api/devices`: only the devices in these states (repeatable; all
    when absent)."""

    state: list[DeviceStateName] = attrs.field(factory=list)

    @staticmethod
    def parse(states: list[str]) -> frozenset[DeviceState]:
        known = {state.value: state for state in DeviceState}
        unknown = [state for state in states if state not in known]
        if unknown:
            names = ", ".join(known)
            raise _invalid("state", f"state must be one of {names}, not {quoted(unknown[0])}.")
        return frozenset(known[state] for state in states)


DIFF_TARGET_PATTERN = f"^(?:[0-9]{{12}}|{CURRENT})$"


@attrs.frozen
class DiffQuery:
    """The query of a revision's diff: `to` another revision, or `current` (the default)."""

    to: Annotated[str, msgspec.Meta(pattern=DIFF_TARGET_PATTERN)] = CURRENT

    @classmethod
    def parse(cls, to: str | None) -> DiffQuery:
        if to is None:
            return cls()
        if to != CURRENT and _REVISION_ID.fullmatch(to) is None:
            raise _invalid("to", f"to must be a revision id from this history, or {CURRENT}.")
        return cls(to)


@attrs.frozen
class HistoryQuery:
    """The query of `GET /api/configs/{mac_address}/history`: `limit` revisions (1 to 1000),
    only those older than revision `before` when given (the last one of the previous page)."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_HISTORY_PAGE)] = DEFAULT_HISTORY_PAGE
    before: Annotated[str, msgspec.Meta(pattern=REVISION_PATTERN)] | None = None

    @classmethod
    def parse(cls, limit: str | None, before: str | None) -> HistoryQuery:
        problems = []
        page = DEFAULT_HISTORY_PAGE
        if limit is not None:
            if limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_HISTORY_PAGE:
                page = int(limit)
            else:
                problems.append(
                    ("limit", f"limit must be a whole number from 1 to {MAX_HISTORY_PAGE}.")
                )
        if before is not None and _REVISION_ID.fullmatch(before) is None:
            problems.append(("before", "before must be a revision id from this history."))
        if problems:
            raise _refused(problems)
        return cls(page, before)


_REVISION_ID = re.compile(REVISION_PATTERN)


def rfc3339(timestamp: float) -> str:
    """UTC, to the millisecond, with `Z`: `2026-12-01T18:30:00.123Z`."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeviceConfigFileOut(TypedDict):
    """A device's config file: the JSON object exactly as stored, whatever its keys."""


@attrs.frozen(slots=False)
class WritesOut:
    """How writes are doing: `ok`, or `failing` with the reason (`disk_full`, `read_only`,
    `permission_denied`, `timeout`, ...) and a sentence saying it."""

    status: str
    reason: str | None = None
    message: str | None = None


@attrs.frozen(slots=False)
class HealthOut:
    status: str
    writes: WritesOut


@attrs.frozen(slots=False)
class UnhealthyOut:
    """The 503 health body: the contract's `status` and `reason`, plus the error envelope."""

    status: str
    reason: str
    error: str
    code: str
    details: dict[str, Any] | None
    correlationId: str  # noqa: N815 - the contract's spelling


@attrs.frozen(slots=False)
class ErrorOut:
    """The body of every error response. This service always sends all four members; `code`,
    `details` and `correlationId` are documented as optional, as the previous service's
    document had them, so that clients generated from it keep compiling."""

    error: str
    code: str | None = None
    details: dict[str, Any] | None = None
    correlationId: str | None = None  # noqa: N815 - the contract's spelling


JSON_MEDIA_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json")
# `application/json` too: generated clients send every body as that (API.md, part 2).
MERGE_PATCH_MEDIA_TYPE = re.compile(r"application/(?:merge-patch\+)?json")


async def read_json(media_type: re.Pattern[str], expected: str) -> Any:
    """Decode the request body as JSON, strictly.

    One rule for every body: the Content-Type must be present and match `media_type`, and its
    charset, if any, UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8);
    anything else is 415 saying what is accepted. The previous service required
    `application/json` for a save, so nothing that worked there is refused here. Refused with
    400: invalid UTF-8 or JSON, `NaN`/`Infinity`, numbers out of range, lone surrogates, nesting
    too deep to handle, and duplicate keys (RFC 8259 leaves their meaning open, and silently
    keeping one of two values could lose an admin's edit).
    """
    mimetype = request.mimetype
    if media_type.fullmatch(mimetype) is None:
        sent = f"not {mimetype}" if mimetype else "and this request has no Content-Type"
        raise UnsupportedMediaType(f"The request body must be sent as {expected}, {sent}.")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"The request body must be UTF-8 (charset=utf-8, or no charset), not {charset}."
        )
    body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    return await off_the_loop(len(body), _decode, body)


MAX_PROBLEMS_LISTED = 20
_TOO_DEEP = f"The request body is nested deeper than a config may be ({MAX_NESTING} levels)."


def _decode(body: bytes) -> Any:
    try:
        data = msgspec.json.decode(body)
        # One level more than a config may have: a save's body wraps it in `{"content": ...}`.
        if nested_deeper_than(data, MAX_NESTING + 1):
            raise _invalid("body", _TOO_DEEP)
        json.loads(body, object_pairs_hook=_refuse_duplicate_keys)
    except RecursionError:
        raise _invalid("body", _TOO_DEEP) from None
    except _DuplicateKey as duplicate:
        raise _invalid(
            "body", f"The key {quoted(duplicate.key)} appears twice in one object."
        ) from None
    except (UnicodeDecodeError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        # Invalid UTF-8 is a UnicodeDecodeError before msgspec 0.23 and a DecodeError after.
        raise _invalid("body", _why_not_json(body, str(exc))) from None
    return data


def _why_not_json(body: bytes, decoder_says: str) -> str:
    """What is wrong with a body msgspec refused, in words a person can act on. msgspec's own
    messages are terse and sometimes wrong for people ("Input data was truncated" for an empty
    body or a lone surrogate, "invalid character" for NaN), so the standard library's decoder,
    which says line and column, is asked again, with hooks for what it would let through."""
    if not is_utf8(body):
        return "The request body is not valid UTF-8."
    if not body.strip():
        return "The request body is empty; send a JSON object."
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except _Constant as constant:
        return (
            f"The request body holds {constant.name}, which is not a JSON number (JSON has "
            "no NaN or Infinity); send a number or null."
        )
    except json.JSONDecodeError as exc:
        return (
            f"The request body is not valid JSON: {exc.msg.lower()} at line {exc.lineno}, "
            f"column {exc.colno}."
        )
    except RecursionError:
        return _TOO_DEEP
    if _holds_lone_surrogate(value):
        return (
            "The request body holds a lone surrogate escape (like \\ud800): half of a UTF-16 "
            "pair, which is not a character and cannot be stored as UTF-8."
        )
    if "out of range" in decoder_says:
        return "The request body holds a number too large to store (beyond 1.8e308)."
    return f"The request body is not valid JSON: {decoder_says}."


class _Constant(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a string or key anywhere in `value` holds a surrogate code point: the standard
    library joins escaped pairs, so any left is lone. Walked with a stack, not recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


async def read_merge_patch() -> dict[str, Any]:
    """Read a JSON Merge Patch body. RFC 7396 allows any JSON value, but anything other than an
    object replaces the whole config with a non-object, which is never a valid config: refuse it
    here, before storage is touched, rather than after the merge."""
    patch = await read_json(
        MERGE_PATCH_MEDIA_TYPE,
        "a JSON Merge Patch (Content-Type: application/merge-patch+json or application/json)",
    )
    if not isinstance(patch, dict):
        raise _invalid("body", "A merge patch for a config must be a JSON object.")
    return patch


async def read_json_body(schema: type[T]) -> T:
    """Parse the request body strictly into `schema`.

    quart-schema's `validate_request` converts loosely (`"false"` becomes a bool) and its JSON
    parser accepts `NaN`; a config service must refuse both, so bodies are decoded here with
    msgspec in strict mode. Unknown fields are refused too: a misspelt `allow_overwrite` must
    not silently overwrite a config.
    """
    data = await read_json(JSON_MEDIA_TYPE, "JSON (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise _invalid("body", f"The request body must be a JSON object, not {_json_type(data)}.")
    problems = _problems(data, schema)
    if problems:
        raise _refused(problems)
    return msgspec.convert(data, schema, strict=True)


def _problems(data: dict[str, Any], schema: type[T]) -> list[tuple[str, str]]:
    """Every problem of `data` as a `schema`, field by field: msgspec stops at the first, and
    an admin fixing a body one error per round trip would rather see them all."""
    fields = attrs.fields(schema)
    allowed = " and ".join(sorted(field.name for field in fields))
    problems = [
        (name, f"Unknown field {quoted(name)}: the body may hold only {allowed}.")
        for name in data
        if name not in attrs.fields_dict(schema)
    ]
    types = typing.get_type_hints(schema, include_extras=True)
    for field in fields:
        if field.name not in data:
            if field.default is attrs.NOTHING:
                problems.append((field.name, f"Field {quoted(field.name)} is required."))
            continue
        try:
            msgspec.convert(data[field.name], types[field.name], strict=True)
        except msgspec.ValidationError:
            expected = _EXPECTED.get(types[field.name], "of another type")
            value = data[field.name]
            # A string of the wrong form (a pattern) is shown, clipped: "must be a revision id,
            # not a string" would say nothing.
            of_wrong_form = isinstance(value, str) and typing.get_args(types[field.name])[:1] == (
                str,
            )
            held = quoted(value[:40]) if of_wrong_form else _json_type(value)
            problems.append(
                (field.name, f"Field {quoted(field.name)} must be {expected}, not {held}.")
            )
    return problems


# What a body field's type asks for, in JSON's words.
_EXPECTED: dict[Any, str] = {
    bool: "true or false",
    dict[str, Any]: "a JSON object",
    RevisionId: "a revision id from the config's history (twelve digits)",
}


def _json_type(value: Any) -> str:
    """What a body field holds, as a message says it: `an array`, `a string`, `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    name = json_type(value)
    return name if name == "null" else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _invalid(field: str, message: str) -> RequestValidationFailed:
    return _refused([(field, message)])


def _refused(problems: list[tuple[str, str]]) -> RequestValidationFailed:
    """The 400 for these problems: each in `details.errors`, and all of them in `error`; a
    body with thousands of unknown keys gets the first few and a count, not a huge answer."""
    if len(problems) > MAX_PROBLEMS_LISTED:
        more = len(problems) - MAX_PROBLEMS_LISTED
        problems = [*problems[:MAX_PROBLEMS_LISTED], ("body", f"And {more} more problems.")]
    messages = [message for _, message in problems]
    text = (
        messages[0]
        if len(messages) == 1
        else (f"The request body has {len(messages)} problems: {' '.join(messages)}")
    )
    return RequestValidationFailed(
        text, [{"field": field, "message": message} for field, message in problems]
    )
