"""What a route's OpenAPI operation says beyond quart-schema's decorators, attached to the route
(`describe`), and the examples the document shows. `docs/openapi.py` reads it when it builds the
document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTRIBUTE = "_iot_support_openapi"


def describe(
    *,
    request_headers: tuple[str, ...] = (),
    response_headers: dict[int, tuple[str, ...]] | None = None,
    empty: dict[int, str] | None = None,
    request_media_types: tuple[str, ...] = (),
    response_media_types: tuple[str, ...] = (),
    response_array: bool = False,
    request_example: Any = None,
    response_examples: dict[int, Any] | None = None,
    previous_responses: dict[int, tuple[str, str]] | None = None,
) -> Callable[[F], F]:
    """Attach to a route what its OpenAPI operation should say beyond quart-schema's reach.

    Stacks: several `describe` decorators on one route add up. `request_media_types` lists
    the media types the body is documented under (the first is the preferred one), and
    `response_media_types` those of the 200 answer (JSON when not given), and
    `response_array` makes it an array of the documented model (quart-schema documents a
    model, not a list of one);
    `previous_responses` maps a status to (component, description) for answers the previous
    service documented with a schema of its own.
    """

    def decorator(func: F) -> F:
        doc = getattr(func, _DOC_ATTRIBUTE, None) or {
            "request_headers": (),
            "response_headers": {},
            "empty": {},
            "request_media_types": (),
            "response_media_types": (),
            "response_array": False,
            "request_example": None,
            "response_examples": {},
            "previous_responses": {},
        }
        doc["request_headers"] = (*doc["request_headers"], *request_headers)
        doc["response_headers"] = {**doc["response_headers"], **(response_headers or {})}
        doc["empty"] = {**doc["empty"], **(empty or {})}
        doc["request_media_types"] = request_media_types or doc["request_media_types"]
        doc["response_media_types"] = response_media_types or doc["response_media_types"]
        doc["response_array"] = response_array or doc["response_array"]
        doc["previous_responses"] = {**doc["previous_responses"], **(previous_responses or {})}
        if request_example is not None:
            doc["request_example"] = request_example
        doc["response_examples"] = {**doc["response_examples"], **(response_examples or {})}
        setattr(func, _DOC_ATTRIBUTE, doc)
        return func

    return decorator


def documented(func: Callable[..., Any]) -> dict[str, Any] | None:
    """What `describe` attached to a route's function, if anything."""
    doc: dict[str, Any] | None = getattr(func, _DOC_ATTRIBUTE, None)
    return doc


VALIDATORS = ("ETag", "Last-Modified")
# The previous service's component for its list's 400, kept in the document (docs/contract.py).
VALIDATION_ERROR = "ValidationError.6a07bef"

# A locally administered address no fleet has: "Try it out" with the examples as they are
# cannot touch a real device's config.
EXAMPLE_MAC = "02-00-00-00-00-01"
EXAMPLE_CONTENT: dict[str, Any] = {
    "deviceName": "Kitchen Climate 1",
    "deviceEntityId": "sensor.kitchen_climate_1",
    "enableOTA": True,
    "wifi": {"ssid": "homelab-iot", "hostname": "esp32-kitchen-climate-1", "powerSave": "none"},
    "mqtt": {"broker": "mqtt.home.lan", "port": 1883, "topicPrefix": "home/kitchen/climate_1"},
    "sensors": [{"id": "bme280_0", "type": "bme280", "bus": "i2c", "i2cAddress": "0x76"}],
    "updateIntervals": {"telemetrySeconds": 60, "configRefreshSeconds": 900},
}
EXAMPLE_SUMMARY: dict[str, Any] = {
    "mac_address": EXAMPLE_MAC,
    "device_name": "Kitchen Climate 1",
    "device_entity_id": "sensor.kitchen_climate_1",
    "enable_ota": True,
}
EXAMPLE_CONFIG: dict[str, Any] = {**EXAMPLE_SUMMARY, "content": EXAMPLE_CONTENT}
EXAMPLE_HISTORY: dict[str, Any] = {
    "mac_address": EXAMPLE_MAC,
    "revisions": [
        {
            "revision": "000000000002",
            "etag": '"5d41402abc4b2a76b9719d911017c592"',
            "operation": "patch",
            "saved_at": "2026-12-01T18:30:00.123Z",
            "size": 412,
            "client": "192.0.2.10",
            "user": None,
            "correlation_id": "3f1c0e8e2b0d4f3a",
            "current": True,
        },
        {
            "revision": "000000000001",
            "etag": '"7d793037a0760186574b0282f2f435e7"',
            "operation": "save",
            "saved_at": "2026-11-30T09:12:44.001Z",
            "size": 398,
            "client": "192.0.2.10",
            "user": None,
            "correlation_id": "9a0b1c2d3e4f5a6b",
            "current": False,
        },
    ],
    "count": 2,
}
EXAMPLE_REVISION: dict[str, Any] = {
    **EXAMPLE_HISTORY["revisions"][0],
    "content": EXAMPLE_CONTENT,
}
EXAMPLE_DIFF: list[dict[str, Any]] = [
    {"op": "replace", "path": "/enableOTA", "value": True},
    {"op": "add", "path": "/wifi/powerSave", "value": "min_modem"},
]
EXAMPLE_DELETED: dict[str, Any] = {
    "configs": [
        {
            "mac_address": EXAMPLE_MAC,
            "deleted_at": "2026-12-01T18:30:00.123Z",
            "revision": "000000000003",
        }
    ],
    "count": 1,
}
EXAMPLE_DEVICE: dict[str, Any] = {
    "mac_address": EXAMPLE_MAC,
    "has_config": True,
    "config_etag": '"3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6"',
    "device_etag": '"3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6"',
    "state": "in_sync",
    "last_seen_at": "2026-12-01T18:30:00.123Z",
    "last_status": 304,
    "client": "192.0.2.21",
    "user_agent": "ESP32HTTPClient",
    "poll_interval_seconds": 30.0,
    "device_name": "Kitchen sensor",
}
EXAMPLE_DEVICES: dict[str, Any] = {
    "devices": [
        EXAMPLE_DEVICE,
        {
            "mac_address": "02-00-00-00-00-09",
            "has_config": False,
            "config_etag": None,
            "device_etag": None,
            "state": "unknown",
            "last_seen_at": "2026-12-01T18:29:41.007Z",
            "last_status": 404,
            "client": "192.0.2.30",
            "user_agent": "ESP32HTTPClient",
            "poll_interval_seconds": None,
            "device_name": None,
        },
    ],
    "count": 2,
}
EXAMPLE_SKIPPED: dict[str, Any] = {
    "name": "02-00-00-00-00-02.json",
    "problem": "not_an_object",
    "reason": "the file holds a JSON array, not an object",
}

conditional_get = describe(
    request_headers=("If-None-Match", "If-Modified-Since"),
    response_headers={200: (*VALIDATORS, "Cache-Control"), 304: (*VALIDATORS, "Cache-Control")},
    empty={304: "Not Modified: the caller's copy is current; no body."},
)
