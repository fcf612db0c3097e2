"""How a config is stored: pretty-printed JSON, key order kept; and what makes stored bytes
unusable as a config, said in words."""

from __future__ import annotations

import msgspec

from adapters.filesystem.problems import FileProblem
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigTooLarge,
    InvalidDeviceConfig,
)
from domain.model import (
    MAX_NESTING,
    DeviceConfig,
    JsonObject,
    MacAddress,
    is_utf8,
    nested_deeper_than,
)
from domain.text import json_type

TOO_DEEP = f"the JSON is nested deeper than {MAX_NESTING} levels"


def encode_content(config: DeviceConfig, limit: int) -> bytes:
    """Serialise a config the way it is stored: key order kept, 2-space indent, final newline.
    Refused when the stored form would be over `limit` bytes, the same limit reads have: the
    indent grows with the depth, so a small body can make a file too large to serve."""
    if nested_deeper_than(config.content):
        raise InvalidDeviceConfig(f"The config is nested deeper than {MAX_NESTING} levels.")
    try:
        compact = msgspec.json.encode(config.content)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidDeviceConfig(f"The config cannot be written as JSON: {exc}.") from exc
    body = msgspec.json.format(compact, indent=2) + b"\n"
    if len(body) > limit:
        raise DeviceConfigTooLarge(str(config.mac_address), len(body), limit)
    return body


def decode(mac_address: MacAddress, body: bytes) -> JsonObject:
    """Return the JSON object in stored bytes; raise `CorruptDeviceConfig` saying why not."""
    if not body.strip():
        raise corrupt(mac_address, FileProblem.EMPTY, "the file is empty")
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise corrupt(mac_address, FileProblem.TOO_DEEP, TOO_DEEP) from None
    except (UnicodeDecodeError, msgspec.DecodeError) as exc:
        # msgspec before 0.23 raised UnicodeDecodeError for invalid UTF-8, later versions a
        # DecodeError like any syntax error: ask the bytes, so every version tells them apart.
        if not is_utf8(body):
            raise corrupt(
                mac_address, FileProblem.NOT_UTF8, "the file is not valid UTF-8"
            ) from None
        raise corrupt(
            mac_address, FileProblem.INVALID_JSON, f"the file is not valid JSON ({exc})"
        ) from None
    if nested_deeper_than(value):
        raise corrupt(mac_address, FileProblem.TOO_DEEP, TOO_DEEP)
    if not isinstance(value, dict):
        raise corrupt(
            mac_address,
            FileProblem.NOT_AN_OBJECT,
            f"the file holds a JSON {json_type(value)}, not an object",
        )
    return value


def corrupt(mac_address: MacAddress, problem: FileProblem, reason: str) -> CorruptDeviceConfig:
    return CorruptDeviceConfig(str(mac_address), problem, reason)
