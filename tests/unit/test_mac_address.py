from __future__ import annotations

import re

import pytest

from domain.errors import InvalidMacAddress
from domain.model import MAC_ADDRESS_PATTERN, MacAddress


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("aa-bb-cc-dd-ee-ff", "aa-bb-cc-dd-ee-ff"),
        ("AA-BB-CC-DD-EE-FF", "aa-bb-cc-dd-ee-ff"),
        ("Aa-bB-cC-Dd-eE-fF", "aa-bb-cc-dd-ee-ff"),
        ("aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff"),
        ("AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff"),
        ("00-11-22-33-44-55", "00-11-22-33-44-55"),
    ],
)
def test_parse_normalises_accepted_forms(text: str, canonical: str) -> None:
    assert MacAddress.parse(text).value == canonical
    assert str(MacAddress.parse(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "aa-bb-cc-dd-ee",
        "aa-bb-cc-dd-ee-ff-00",
        "aa-bb-cc-dd-ee-f",
        "aabbccddeeff",
        "aa-bb:cc-dd-ee-ff",
        "aa.bb.cc.dd.ee.ff",
        "aa_bb_cc_dd_ee_ff",
        "aa bb cc dd ee ff",
        "gg-bb-cc-dd-ee-ff",
        " aa-bb-cc-dd-ee-ff",
        "aa-bb-cc-dd-ee-ff ",
        "aa-bb-cc-dd-ee-ff\n",
        "aa-bb-cc-dd-ee-ff\x00",
        "../../etc/passwd",
        "..",
        "aa/bb/cc/dd/ee/ff",
        "aa-bb-cc-dd-ee-ff.json",
        "\uff41\uff41-bb-cc-dd-ee-ff",  # full-width letters are not hex digits
        "\u0661\u0661-bb-cc-dd-ee-ff",  # neither are other scripts' digits
    ],
)
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidMacAddress, match="has invalid format"):
        MacAddress.parse(text)


def test_parse_error_shows_the_input_and_the_expected_form() -> None:
    with pytest.raises(InvalidMacAddress) as caught:
        MacAddress.parse("nope")
    assert "'nope'" in caught.value.message
    assert "aa-bb-cc-dd-ee-ff" in caught.value.expected
    assert caught.value.details == {"expected": caught.value.expected}


def test_parse_error_keeps_the_previous_services_wording() -> None:
    """The admin UI shows it and its tests look for it (API.md, "Error messages the UI shows")."""
    with pytest.raises(InvalidMacAddress) as caught:
        MacAddress.parse("aa-bb", "get config")
    assert (
        caught.value.message == "Cannot get config because MAC address 'aa-bb' has invalid format"
    )


def test_parse_error_shortens_very_long_input() -> None:
    with pytest.raises(InvalidMacAddress) as caught:
        MacAddress.parse("x" * 10_000)
    assert len(caught.value.message) < 300


def test_constructor_accepts_only_canonical_form() -> None:
    with pytest.raises(InvalidMacAddress):
        MacAddress("AA-BB-CC-DD-EE-FF")


def test_mac_addresses_order_and_compare_by_value() -> None:
    low, high = MacAddress.parse("00-00-00-00-00-01"), MacAddress.parse("ff:00:00:00:00:00")
    assert sorted([high, low]) == [low, high]
    assert MacAddress.parse("AA:BB:CC:DD:EE:FF") == MacAddress("aa-bb-cc-dd-ee-ff")


def test_documented_pattern_accepts_exactly_what_parse_accepts() -> None:
    pattern = re.compile(MAC_ADDRESS_PATTERN)
    accepted = ["aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF", "0a-1B-2c-3D-4e-5F"]
    refused = ["aa-bb:cc-dd-ee-ff", "aabbccddeeff", "aa-bb-cc-dd-ee-ff\n", "gg-bb-cc-dd-ee-ff"]
    for text in accepted:
        assert pattern.fullmatch(text)
        MacAddress.parse(text)
    for text in refused:
        assert not pattern.fullmatch(text)
        with pytest.raises(InvalidMacAddress):
            MacAddress.parse(text)
