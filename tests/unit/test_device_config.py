from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidDeviceConfig
from domain.model import DeviceConfig, DeviceConfigSummary, MacAddress, nested_deeper_than

MAC = MacAddress("aa-bb-cc-dd-ee-ff")


def test_summary_reads_the_three_top_level_fields() -> None:
    config = DeviceConfig(
        MAC,
        {"deviceName": "Kitchen", "deviceEntityId": "sensor.kitchen", "enableOTA": True, "x": 1},
    )
    assert config.summary() == DeviceConfigSummary(MAC, "Kitchen", "sensor.kitchen", True)


def test_summary_fields_are_none_when_missing() -> None:
    assert DeviceConfig(MAC, {}).summary() == DeviceConfigSummary(MAC, None, None, None)


@pytest.mark.parametrize(
    "content",
    [
        {"deviceName": 42, "deviceEntityId": ["a"], "enableOTA": "yes"},
        {"deviceName": None, "deviceEntityId": {"x": 1}, "enableOTA": 1},
        {"deviceName": True, "deviceEntityId": 1.5, "enableOTA": None},
    ],
)
def test_summary_fields_of_another_type_are_none(content: dict[str, Any]) -> None:
    assert DeviceConfig(MAC, content).summary() == DeviceConfigSummary(MAC, None, None, None)


def test_summary_ignores_nested_fields_of_the_same_name() -> None:
    config = DeviceConfig(MAC, {"wifi": {"deviceName": "nested"}})
    assert config.summary().device_name is None


def test_enable_ota_false_is_kept_as_false() -> None:
    assert DeviceConfig(MAC, {"enableOTA": False}).summary().enable_ota is False


@pytest.mark.parametrize("content", [[], "text", 1, None])
def test_content_must_be_an_object(content: Any) -> None:
    with pytest.raises(InvalidDeviceConfig, match="JSON object"):
        DeviceConfig(MAC, content)


# The nesting limit (ArduinoJson's default is 10; 64 is the service's bound)


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(("depth", "deeper"), [(0, False), (63, False), (64, False), (65, True)])
def test_nesting_is_measured_in_levels_of_objects_and_arrays(depth: int, deeper: bool) -> None:
    assert nested_deeper_than(nested(depth)) is deeper


def test_objects_count_as_levels_like_arrays() -> None:
    value: object = {}
    for _ in range(64):
        value = {"a": value}
    assert nested_deeper_than(value)
    assert not nested_deeper_than(value, 65)


def test_any_depth_is_answered_without_recursion_error() -> None:
    assert nested_deeper_than(nested(100_000))
