"""Domain objects: the MAC address value object and the device config it names."""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

import attrs

from domain.errors import (
    InvalidDeviceConfig,
    InvalidMacAddress,
    PreconditionFailed,
    StorageUnavailable,
)
from domain.text import quoted

JsonObject = dict[str, Any]

# One separator, captured once and required between every pair, so "aa-bb:cc-..." is refused.
_MAC_PATTERN = re.compile(r"[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
# The same rule without a back-reference, for API documentation and clients that validate.
MAC_ADDRESS_PATTERN = (
    r"^(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}$|^(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"
)
MAC_ADDRESS_EXPECTED = (
    "six pairs of hex digits joined by '-' or ':', like aa-bb-cc-dd-ee-ff or AA:BB:CC:DD:EE:FF"
)
_CANONICAL_PATTERN = re.compile(r"[0-9a-f]{2}(?:-[0-9a-f]{2}){5}")


def _must_be_canonical(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or _CANONICAL_PATTERN.fullmatch(value) is None:
        raise InvalidMacAddress(
            f"Cannot use {quoted(str(value))} because it is not a canonical MAC address",
            expected="aa-bb-cc-dd-ee-ff",
        )


@attrs.frozen(order=True)
class MacAddress:
    """A device's MAC address, always held in canonical form: `aa-bb-cc-dd-ee-ff`."""

    value: str = attrs.field(validator=_must_be_canonical)

    @classmethod
    def parse(cls, text: str, action: str = "use this MAC address") -> MacAddress:
        """Read a MAC address as written in a URL or a file name.

        Accepted: six pairs of hex digits joined by `-` throughout or by `:` throughout, in any
        letter case (`AA:BB:CC:DD:EE:FF` is `aa-bb-cc-dd-ee-ff`). Everything else (wrong length,
        mixed or missing separators, non-hex digits, surrounding whitespace) raises
        `InvalidMacAddress`, whose message names `action` ("Cannot get config because ...").
        """
        if _MAC_PATTERN.fullmatch(text) is None:
            raise InvalidMacAddress(
                f"Cannot {action} because MAC address {quoted(text)} has invalid format",
                expected=MAC_ADDRESS_EXPECTED,
            )
        return cls(text.lower().replace(":", "-"))

    def __str__(self) -> str:
        return self.value


def _text_or_none(content: JsonObject, key: str) -> str | None:
    value = content.get(key)
    return value if isinstance(value, str) else None


@attrs.frozen
class DeviceConfigSummary:
    """The fields an admin sees in the fleet list; each is `None` when missing or mistyped."""

    mac_address: MacAddress
    device_name: str | None
    device_entity_id: str | None
    enable_ota: bool | None
    # The ETag a device gets for this config now, when the summary was read from its bytes
    # (the fleet list does not show it; device check-ins compare against it).
    etag: str | None = attrs.field(default=None, eq=False)


def _must_be_object(_: object, __: attrs.Attribute[JsonObject], value: JsonObject) -> None:
    if not isinstance(value, dict):
        raise InvalidDeviceConfig(
            f"A device config must be a JSON object, not {type(value).__name__}."
        )


@attrs.frozen
class DeviceConfig:
    """One device's configuration: a JSON object, stored and served as given."""

    mac_address: MacAddress
    content: JsonObject = attrs.field(validator=_must_be_object)

    def summary(self) -> DeviceConfigSummary:
        """Read the summary fields from the top level: `deviceName`, `deviceEntityId`, `enableOTA`.

        A field that is missing or of another type (say `"deviceName": 42`) reads as `None`: the
        list must show every device, whatever other tools wrote into its file.
        """
        enable_ota = self.content.get("enableOTA")
        return DeviceConfigSummary(
            mac_address=self.mac_address,
            device_name=_text_or_none(self.content, "deviceName"),
            device_entity_id=_text_or_none(self.content, "deviceEntityId"),
            enable_ota=enable_ota if isinstance(enable_ota, bool) else None,
        )


# How deep a config may nest objects and arrays. ESP32 firmware parses configs with ArduinoJson,
# whose default limit is 10; 64 is generous for any real config and keeps every walk over one
# (encoding, merging, pretty-printing: whose output grows with the square of the depth) small.
MAX_NESTING = 64


def nested_deeper_than(value: object, limit: int = MAX_NESTING) -> bool:
    """Whether `value` (decoded JSON) nests objects or arrays more than `limit` levels deep.

    Walked level by level, not by recursion: any depth is answered without a RecursionError
    and without a call per value (a 1 MiB body holds tens of thousands), and the walk stops
    at the limit."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        children: list[object] = []
        containers = 0
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
                containers += 1
            elif isinstance(item, list):
                children.extend(item)
                containers += 1
        if containers == 0:
            return False
        level = children
    return True


def is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, the only encoding a config document may have (RFC 8259
    section 8.1). Asked only once a JSON decoder has refused the bytes, to say which way."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@attrs.frozen
class ConfigDocument:
    """A config exactly as stored: the bytes a device downloads, and when they last changed."""

    mac_address: MacAddress
    body: bytes
    modified_at: float

    @functools.cached_property
    def revision(self) -> str:
        """Names these exact bytes: equal on every replica and after a restart, and different
        for any other content. 128 bits of SHA-256 are plenty to tell versions apart. Hashed
        once per document (attrs keeps it in a slot): a device fetch asks for it three times."""
        return hashlib.sha256(self.body).hexdigest()[:32]


@attrs.frozen
class StoredConfig:
    """A config as read back from storage: its content and the document it came from."""

    config: DeviceConfig
    document: ConfigDocument


@attrs.frozen
class WriteCondition:
    """What must hold of the stored config for a write to go ahead (checked with the write).

    `must_exist` / `must_not_exist`: there must be a config / there must be none.
    `revision_in`: the stored revision must be one of these (so a config must exist).
    `revision_not_in`: the stored revision, if any, must be none of these.
    `never`: why the condition can hold for no state at all (say, only weak tags where a write
    compares strongly); it fails with that reason whatever is stored.
    """

    must_exist: bool = False
    must_not_exist: bool = False
    revision_in: frozenset[str] | None = None
    revision_not_in: frozenset[str] = frozenset()
    never: str | None = None

    def check(self, mac_address: MacAddress, current: ConfigDocument | None) -> None:
        """Raise `PreconditionFailed` unless the condition holds for `current` (None: absent),
        saying which part failed and what to do about it."""
        mac = str(mac_address)
        if self.never is not None:
            raise PreconditionFailed(mac, self.never, EXACT_ETAG)
        if current is None:
            if self.must_exist:
                reason = "no config is stored, and If-Match: * asks for an existing one"
                raise PreconditionFailed(mac, reason, CREATE_WITHOUT_IF_MATCH)
            if self.revision_in is not None:
                reason = "no config is stored (it was deleted since that ETag was read)"
                raise PreconditionFailed(mac, reason, CREATE_WITHOUT_IF_MATCH)
            return
        if self.must_not_exist:
            reason = "a config is already stored, and If-None-Match: * (create only) forbids that"
            raise PreconditionFailed(mac, reason, REPLACE_WITH_IF_MATCH)
        revision = current.revision
        if self.revision_in is not None and revision not in self.revision_in:
            raise PreconditionFailed(mac, "the stored config has changed since that ETag was read")
        if revision in self.revision_not_in:
            raise PreconditionFailed(mac, "the stored config is one that If-None-Match lists")


EXACT_ETAG = "Send the ETag exactly as a GET of this config returned it."
CREATE_WITHOUT_IF_MATCH = "Save it without If-Match to create it."
REPLACE_WITH_IF_MATCH = "To replace it, send If-Match with its current ETag, or neither header."


ANY_STATE = WriteCondition()


@attrs.frozen
class SkippedFile:
    """A file in the configs directory that a listing left out, and why."""

    name: str
    # A stable label for metrics, chosen by the repository (`bad_name`, `invalid_json`, ...).
    problem: str
    reason: str


@attrs.frozen
class ConfigListing:
    """The fleet, sorted by MAC address, with the files that were left out of it."""

    summaries: tuple[DeviceConfigSummary, ...]
    skipped: tuple[SkippedFile, ...] = ()


@attrs.frozen
class StorageStatus:
    """Whether storage is usable; `problem` says why not."""

    problem: StorageUnavailable | None = None
