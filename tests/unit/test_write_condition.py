from __future__ import annotations

import pytest

from domain.errors import PreconditionFailed
from domain.model import ANY_STATE, ConfigDocument, MacAddress, WriteCondition

MAC = MacAddress("aa-bb-cc-dd-ee-ff")
STORED = ConfigDocument(MAC, b'{"v": 1}\n', 0.0)
OTHER = ConfigDocument(MAC, b'{"v": 2}\n', 0.0)


def test_revision_names_the_bytes() -> None:
    assert STORED.revision == ConfigDocument(MAC, b'{"v": 1}\n', 99.0).revision
    assert STORED.revision != OTHER.revision
    assert len(STORED.revision) == 32


HOLDS = [
    (ANY_STATE, None),
    (ANY_STATE, STORED),
    (WriteCondition(must_exist=True), STORED),
    (WriteCondition(must_not_exist=True), None),
    (WriteCondition(revision_in=frozenset({STORED.revision, "x"})), STORED),
    (WriteCondition(revision_not_in=frozenset({OTHER.revision})), STORED),
    (WriteCondition(revision_not_in=frozenset({OTHER.revision})), None),
]

FAILS = [
    (WriteCondition(must_exist=True), None, "no config is stored"),
    (WriteCondition(must_not_exist=True), STORED, "already stored"),
    (WriteCondition(revision_in=frozenset({OTHER.revision})), STORED, "has changed"),
    (WriteCondition(revision_in=frozenset({STORED.revision})), None, "no config is stored"),
    (WriteCondition(revision_not_in=frozenset({STORED.revision})), STORED, "If-None-Match lists"),
    (WriteCondition(never="only weak tags"), STORED, "only weak tags"),
    (WriteCondition(never="only weak tags"), None, "only weak tags"),
    (WriteCondition(must_exist=True, must_not_exist=True), STORED, "already stored"),
]


@pytest.mark.parametrize(("condition", "current"), HOLDS)
def test_condition_holds(condition: WriteCondition, current: ConfigDocument | None) -> None:
    condition.check(MAC, current)


@pytest.mark.parametrize(("condition", "current", "reason"), FAILS)
def test_condition_fails_saying_why(
    condition: WriteCondition, current: ConfigDocument | None, reason: str
) -> None:
    with pytest.raises(PreconditionFailed, match=reason) as caught:
        condition.check(MAC, current)
    assert "nothing was written" in caught.value.message
    # Each failure says what to do next, and only the changed-since case says to fetch again.
    fetch_again = "Fetch it again and retry with its current ETag."
    assert caught.value.message.endswith(fetch_again) == (
        reason in ("has changed", "If-None-Match lists")
    )
