"""One behaviour suite for every implementation of the repository port, so the fake cannot drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from domain.errors import DeviceConfigExists, DeviceConfigNotFound, PreconditionFailed
from domain.model import DeviceConfig, MacAddress, WriteCondition
from domain.ports import DeviceConfigRepository
from tests.fakes import InMemoryDeviceConfigRepository

A = MacAddress("aa-aa-aa-aa-aa-aa")
B = MacAddress("bb-bb-bb-bb-bb-bb")


def _filesystem(tmp_path: Path) -> DeviceConfigRepository:
    return FilesystemDeviceConfigRepository(tmp_path)


def _in_memory(_: Path) -> DeviceConfigRepository:
    return InMemoryDeviceConfigRepository()


@pytest.fixture(params=[_filesystem, _in_memory], ids=["filesystem", "in_memory"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> DeviceConfigRepository:
    factory: Callable[[Path], DeviceConfigRepository] = request.param
    return factory(tmp_path)


async def test_round_trip_keeps_content_and_key_order(repository: DeviceConfigRepository) -> None:
    content = {"z": 1, "a": {"y": [1, 2.5, None, True], "b": "é"}, "deviceName": "n"}
    await repository.save(DeviceConfig(A, content), overwrite=True)
    loaded = await repository.get(A)
    assert loaded.config == DeviceConfig(A, content)
    assert list(loaded.config.content) == ["z", "a", "deviceName"]


async def test_document_is_the_stored_json(repository: DeviceConfigRepository) -> None:
    await repository.save(DeviceConfig(A, {"b": 1, "a": 2}), overwrite=True)
    document = await repository.get_document(A)
    assert document.mac_address == A
    assert document.body == b'{\n  "b": 1,\n  "a": 2\n}\n'
    assert msgspec.json.decode(document.body) == {"b": 1, "a": 2}


async def test_get_missing_raises_not_found(repository: DeviceConfigRepository) -> None:
    with pytest.raises(DeviceConfigNotFound):
        await repository.get(A)
    with pytest.raises(DeviceConfigNotFound):
        await repository.get_document(A)


async def test_overwrite_replaces(repository: DeviceConfigRepository) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    await repository.save(DeviceConfig(A, {"v": 2}), overwrite=True)
    assert (await repository.get(A)).config.content == {"v": 2}


async def test_create_only_refuses_existing_and_keeps_it(
    repository: DeviceConfigRepository,
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=False)
    with pytest.raises(DeviceConfigExists):
        await repository.save(DeviceConfig(A, {"v": 2}), overwrite=False)
    assert (await repository.get(A)).config.content == {"v": 1}


async def test_list_is_sorted_and_summarised(repository: DeviceConfigRepository) -> None:
    await repository.save(DeviceConfig(B, {"deviceName": "b", "enableOTA": False}), overwrite=True)
    await repository.save(DeviceConfig(A, {"deviceEntityId": "sensor.a"}), overwrite=True)
    listing = await repository.list_summaries()
    assert [
        (s.mac_address, s.device_name, s.device_entity_id, s.enable_ota) for s in listing.summaries
    ] == [
        (A, None, "sensor.a", None),
        (B, "b", None, False),
    ]
    assert listing.skipped == ()


async def test_delete_removes_and_then_reports_not_found(
    repository: DeviceConfigRepository,
) -> None:
    await repository.save(DeviceConfig(A, {}), overwrite=True)
    await repository.delete(A)
    with pytest.raises(DeviceConfigNotFound):
        await repository.get(A)
    with pytest.raises(DeviceConfigNotFound):
        await repository.delete(A)
    assert (await repository.list_summaries()).summaries == ()


async def test_empty_storage_lists_nothing_and_is_healthy(
    repository: DeviceConfigRepository,
) -> None:
    assert (await repository.list_summaries()).summaries == ()
    await repository.check()


async def test_saved_document_revision_matches_what_get_reads(
    repository: DeviceConfigRepository,
) -> None:
    saved = await repository.save(DeviceConfig(A, {"v": 1}))
    assert (await repository.get(A)).document.revision == saved.document.revision
    assert (await repository.get_document(A)).body == saved.document.body


async def test_conditional_save_applies_only_to_the_expected_revision(
    repository: DeviceConfigRepository,
) -> None:
    first = await repository.save(DeviceConfig(A, {"v": 1}))
    current = WriteCondition(revision_in=frozenset({first.document.revision}))
    second = await repository.save(DeviceConfig(A, {"v": 2}), condition=current)
    with pytest.raises(PreconditionFailed):
        await repository.save(DeviceConfig(A, {"v": 3}), condition=current)
    assert (await repository.get(A)).document.revision == second.document.revision


async def test_create_only_condition_refuses_an_existing_config(
    repository: DeviceConfigRepository,
) -> None:
    create_only = WriteCondition(must_not_exist=True)
    await repository.save(DeviceConfig(A, {"v": 1}), condition=create_only)
    with pytest.raises(PreconditionFailed):
        await repository.save(DeviceConfig(A, {"v": 2}), condition=create_only)
    assert (await repository.get(A)).config.content == {"v": 1}


async def test_update_changes_the_stored_config_under_its_condition(
    repository: DeviceConfigRepository,
) -> None:
    saved = await repository.save(DeviceConfig(A, {"n": 1}))

    def increment(config: DeviceConfig) -> DeviceConfig:
        return DeviceConfig(A, {"n": config.content["n"] + 1})

    updated = await repository.update(
        A, increment, condition=WriteCondition(revision_in=frozenset({saved.document.revision}))
    )
    assert updated.config.content == {"n": 2}
    assert (await repository.get(A)).config.content == {"n": 2}
    with pytest.raises(PreconditionFailed):
        await repository.update(
            A, increment, condition=WriteCondition(revision_in=frozenset({saved.document.revision}))
        )
    with pytest.raises(DeviceConfigNotFound):
        await repository.update(B, increment)


async def test_conditional_delete_keeps_a_changed_config(
    repository: DeviceConfigRepository,
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    with pytest.raises(PreconditionFailed):
        await repository.delete(A, condition=WriteCondition(revision_in=frozenset({"old"})))
    await repository.get(A)
    await repository.delete(A, condition=WriteCondition(must_exist=True))
    with pytest.raises(DeviceConfigNotFound):
        await repository.get(A)
