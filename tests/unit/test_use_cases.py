from __future__ import annotations

import pytest

from domain.errors import (
    DeviceConfigExists,
    DeviceConfigNotFound,
    InvalidDeviceConfig,
    PreconditionFailed,
    StorageFailure,
)
from domain.model import DeviceConfig, MacAddress, WriteCondition
from domain.use_cases import (
    CheckStorage,
    CheckWrites,
    DeleteDeviceConfig,
    GetConfigDocument,
    GetDeviceConfig,
    ListDeviceConfigs,
    PatchDeviceConfig,
    SaveDeviceConfig,
)
from tests.fakes import InMemoryDeviceConfigRepository, RecordingNotifier

A = MacAddress("aa-aa-aa-aa-aa-aa")
B = MacAddress("bb-bb-bb-bb-bb-bb")


async def test_save_creates_a_config() -> None:
    repository = InMemoryDeviceConfigRepository()
    saved = await SaveDeviceConfig(repository, RecordingNotifier()).execute(
        DeviceConfig(A, {"deviceName": "a"})
    )
    assert repository.configs[A] == saved
    assert saved.config == DeviceConfig(A, {"deviceName": "a"})


async def test_save_replaces_by_default() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    await SaveDeviceConfig(repository, RecordingNotifier()).execute(DeviceConfig(A, {"v": 2}))
    assert repository.configs[A].config.content == {"v": 2}


async def test_save_without_overwrite_refuses_an_existing_config_and_keeps_it() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    with pytest.raises(DeviceConfigExists):
        await SaveDeviceConfig(repository, RecordingNotifier()).execute(
            DeviceConfig(A, {"v": 2}), allow_overwrite=False
        )
    assert repository.configs[A].config.content == {"v": 1}


async def test_save_without_overwrite_creates_a_new_config() -> None:
    repository = InMemoryDeviceConfigRepository()
    await SaveDeviceConfig(repository, RecordingNotifier()).execute(
        DeviceConfig(A, {"v": 1}), allow_overwrite=False
    )
    assert repository.configs[A].config.content == {"v": 1}


async def test_list_returns_summaries_sorted_by_mac() -> None:
    repository = InMemoryDeviceConfigRepository(
        DeviceConfig(B, {"deviceName": "b"}), DeviceConfig(A, {"deviceName": "a"})
    )
    listing = await ListDeviceConfigs(repository).execute()
    assert [s.mac_address for s in listing.summaries] == [A, B]
    assert [s.device_name for s in listing.summaries] == ["a", "b"]


async def test_get_returns_the_stored_config() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    assert (await GetDeviceConfig(repository).execute(A)).config.content == {"v": 1}


async def test_get_unknown_device_raises_not_found() -> None:
    with pytest.raises(DeviceConfigNotFound, match="aa-aa-aa-aa-aa-aa"):
        await GetDeviceConfig(InMemoryDeviceConfigRepository()).execute(A)


async def test_get_document_returns_the_stored_bytes() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    document = await GetConfigDocument(repository).execute(A)
    assert document.body == b'{\n  "v": 1\n}\n'


async def test_delete_removes_the_config() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {}), DeviceConfig(B, {}))
    await DeleteDeviceConfig(repository).execute(A)
    assert list(repository.configs) == [B]


async def test_delete_unknown_device_raises_not_found() -> None:
    with pytest.raises(DeviceConfigNotFound):
        await DeleteDeviceConfig(InMemoryDeviceConfigRepository()).execute(A)


async def test_check_writes_reports_failing_writes_while_reads_work() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {}))
    assert (await CheckWrites(repository).execute()).problem is None
    repository.write_failure = StorageFailure.DISK_FULL
    problem = (await CheckWrites(repository).execute()).problem
    assert problem is not None
    assert problem.failure is StorageFailure.DISK_FULL
    assert (await CheckStorage(repository).execute()).problem is None


async def test_check_storage_reports_healthy_storage() -> None:
    status = await CheckStorage(InMemoryDeviceConfigRepository()).execute()
    assert status.problem is None


async def test_check_storage_reports_why_storage_is_unusable() -> None:
    repository = InMemoryDeviceConfigRepository()
    repository.failure = StorageFailure.DIRECTORY_MISSING
    status = await CheckStorage(repository).execute()
    assert status.problem is not None
    assert status.problem.failure is StorageFailure.DIRECTORY_MISSING
    assert status.problem.reason == "the configs directory does not exist"


async def test_patch_merges_into_the_stored_config() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"keep": 1, "drop": 2}))
    stored = await PatchDeviceConfig(repository, RecordingNotifier()).execute(
        A, {"drop": None, "add": {"x": 1}}
    )
    assert stored.config.content == {"keep": 1, "add": {"x": 1}}
    assert repository.configs[A] == stored


async def test_patch_that_leaves_no_object_is_refused_and_changes_nothing() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"keep": 1}))
    with pytest.raises(InvalidDeviceConfig):
        await PatchDeviceConfig(repository, RecordingNotifier()).execute(A, ["not", "an", "object"])
    assert repository.configs[A].config.content == {"keep": 1}


async def test_patch_of_unknown_device_raises_not_found() -> None:
    with pytest.raises(DeviceConfigNotFound):
        await PatchDeviceConfig(InMemoryDeviceConfigRepository(), RecordingNotifier()).execute(
            A, {}
        )


async def test_save_with_a_stale_revision_is_refused() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    condition = WriteCondition(revision_in=frozenset({"stale"}))
    with pytest.raises(PreconditionFailed):
        await SaveDeviceConfig(repository, RecordingNotifier()).execute(
            DeviceConfig(A, {"v": 2}), condition=condition
        )
    assert repository.configs[A].config.content == {"v": 1}


async def test_a_durable_save_is_announced_with_what_was_stored() -> None:
    repository, notifier = InMemoryDeviceConfigRepository(), RecordingNotifier()
    stored = await SaveDeviceConfig(repository, notifier).execute(DeviceConfig(A, {"v": 1}))
    assert notifier.saved == [stored]


async def test_a_patch_is_announced() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    notifier = RecordingNotifier()
    stored = await PatchDeviceConfig(repository, notifier).execute(A, {"v": 2})
    assert notifier.saved == [stored]


async def test_refused_saves_and_deletes_announce_nothing() -> None:
    repository = InMemoryDeviceConfigRepository(DeviceConfig(A, {"v": 1}))
    notifier = RecordingNotifier()
    save = SaveDeviceConfig(repository, notifier)
    with pytest.raises(DeviceConfigExists):
        await save.execute(DeviceConfig(A, {"v": 2}), allow_overwrite=False)
    with pytest.raises(PreconditionFailed):
        await save.execute(DeviceConfig(A, {"v": 2}), condition=WriteCondition(must_not_exist=True))
    with pytest.raises(InvalidDeviceConfig):
        await PatchDeviceConfig(repository, notifier).execute(A, [1])
    await DeleteDeviceConfig(repository).execute(A)
    assert notifier.saved == []
