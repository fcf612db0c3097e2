"""Device check-ins in the domain: records add up, states, the poll interval estimate, and the
device list made again only when what it says could have changed."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from domain.checkins import (
    MAX_USER_AGENT_CHARS,
    RECENT_CHECK_INS,
    CheckIn,
    CheckInTiming,
    DeviceRecord,
    DeviceState,
    adding,
    device,
    device_state,
    overdue_at,
)
from domain.model import ConfigListing, DeviceConfigSummary, MacAddress
from domain.ports import CheckInLog
from domain.use_cases import ListDevices
from tests.fakes import InMemoryDeviceConfigRepository

MAC = MacAddress("aa-bb-cc-dd-ee-ff")
CURRENT = "etag-now"
TIMING = CheckInTiming(quiet_floor_seconds=0)


def check_in(at: float, status: int = 200, etag: str | None = CURRENT, **kw: str) -> CheckIn:
    return CheckIn(MAC, at, status, etag, kw.get("client", "192.0.2.9"), kw.get("agent", "esp"))


def polled(*times: float, etag: str | None = CURRENT) -> DeviceRecord:
    record = None
    for at in times:
        record = adding(record, check_in(at, etag=etag))
    assert record is not None
    return record


def test_the_newest_check_in_wins_and_recent_times_are_kept_in_order() -> None:
    record = adding(None, check_in(100, etag="old"))
    record = record.merged(DeviceRecord.of(check_in(50, status=304, etag="older")))
    assert (record.last_seen_at, record.device_etag, record.last_status) == (100, "old", 200)
    assert record.recent == (50, 100)
    record = record.with_check_in(check_in(130, status=304, etag="new"))
    assert (record.last_seen_at, record.device_etag, record.last_status) == (130, "new", 304)


def test_recent_times_are_bounded_and_duplicates_count_once() -> None:
    record = polled(*range(0, 30 * 50, 30))
    assert len(record.recent) == RECENT_CHECK_INS
    assert record.recent[-1] == 30 * 49
    assert record.merged(record).recent == record.recent


def test_the_user_agent_is_cut_to_a_sane_length() -> None:
    record = DeviceRecord.of(check_in(1, agent="x" * 10_000))
    assert record.user_agent == "x" * MAX_USER_AGENT_CHARS


def test_the_poll_interval_is_unknown_until_three_intervals_are_seen() -> None:
    assert polled(0, 30, 60).poll_interval is None
    assert polled(0, 30, 60, 90).poll_interval == 30


def test_a_missed_poll_or_a_reboot_does_not_move_the_interval() -> None:
    missed = polled(0, 30, 60, 90, 150, 180, 210)  # one poll missed: a 60 s gap
    rebooted = polled(0, 30, 60, 90, 95, 125, 155)  # a reboot: a 5 s gap
    assert missed.poll_interval == 30
    assert rebooted.poll_interval == 30


@pytest.mark.parametrize(
    ("record", "config_etag", "now", "expected"),
    [
        (None, CURRENT, 1000, DeviceState.NEVER_SEEN),
        (polled(0, etag=None), None, 10, DeviceState.UNKNOWN),
        (polled(0, 30, 60, 90), CURRENT, 100, DeviceState.IN_SYNC),
        (polled(0, 30, 60, 90, etag="before"), CURRENT, 100, DeviceState.OUT_OF_SYNC),
        (polled(0, 30, 60, 90), CURRENT, 90 + 91, DeviceState.OVERDUE),
        (polled(0, 30, 60, 90, etag="before"), CURRENT, 90 + 91, DeviceState.OVERDUE),
        (polled(0, 30, 60, 90), CURRENT, 90 + 90, DeviceState.IN_SYNC),
        # An interval not known yet: never overdue.
        (polled(0, 30), CURRENT, 10_000, DeviceState.IN_SYNC),
    ],
)
def test_states(
    record: DeviceRecord | None, config_etag: str | None, now: float, expected: DeviceState
) -> None:
    assert device_state(record, config_etag, now, quiet_floor=0) is expected


def test_no_device_is_overdue_sooner_than_a_check_in_can_reach_another_replica() -> None:
    record = polled(0, 30, 60, 90)
    assert device_state(record, CURRENT, 90 + 200, quiet_floor=320) is DeviceState.IN_SYNC
    assert device_state(record, CURRENT, 90 + 321, quiet_floor=320) is DeviceState.OVERDUE


def test_a_device_joins_its_config_summary_and_record() -> None:
    summary = DeviceConfigSummary(MAC, "Kitchen", None, None, etag=CURRENT)
    joined = device(MAC, summary, polled(0), now=1, timing=TIMING)
    assert (joined.has_config, joined.config_etag, joined.device_name) == (True, CURRENT, "Kitchen")
    assert joined.state is DeviceState.IN_SYNC
    asking = device(MAC, None, polled(0, etag=None), now=1, timing=TIMING)
    assert (asking.has_config, asking.config_etag, asking.state) == (
        False,
        None,
        DeviceState.UNKNOWN,
    )


class SteadyRepository(InMemoryDeviceConfigRepository):
    """Hands back the same listing object while nothing changed, as the port allows."""

    def __init__(self, listing: ConfigListing) -> None:
        super().__init__()
        self.listing = listing

    async def list_summaries(self) -> ConfigListing:
        return self.listing


class SteadyRecords(CheckInLog):
    """The records as set, the same mapping until the test sets another."""

    def __init__(self, records: Mapping[MacAddress, DeviceRecord]) -> None:
        self.now = records

    def record(self, check_in: CheckIn) -> None:
        raise AssertionError("the list records nothing")

    async def flush(self) -> None:
        return None

    async def records(self) -> Mapping[MacAddress, DeviceRecord]:
        return self.now

    async def record_of(self, mac_address: MacAddress) -> DeviceRecord | None:
        return self.now.get(mac_address)

    async def forget(self, mac_address: MacAddress) -> bool:
        return False


async def test_the_list_is_made_again_only_when_a_record_changed_or_a_device_fell_overdue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("domain.use_cases.time.time", lambda: clock[0])
    record = polled(0, 30, 60, 90)  # every 30 s: overdue once silent for over 90 s
    assert overdue_at(record, quiet_floor=0) == 180
    assert overdue_at(polled(0, 30), quiet_floor=0) is None  # no interval known yet
    summary = DeviceConfigSummary(MAC, "Kitchen", None, None, etag=CURRENT)
    log = SteadyRecords({MAC: record})
    listing = ListDevices(SteadyRepository(ConfigListing((summary,))), log, TIMING)
    in_sync = frozenset({DeviceState.IN_SYNC})

    first = await listing.execute()
    assert [d.state for d in first] == [DeviceState.IN_SYNC]
    clock[0] = 179.0  # nothing changed, and no device's time came: the same answer
    assert await listing.execute() is first
    filtered = await listing.execute(in_sync)
    assert filtered == first
    assert await listing.execute(in_sync) is filtered

    clock[0] = 180.5  # past its overdue time, with nothing else changed: made again
    assert [d.state for d in await listing.execute()] == [DeviceState.OVERDUE]
    assert await listing.execute(in_sync) == ()

    log.now = {MAC: record.with_check_in(check_in(180.6))}  # it polled again
    assert [d.state for d in await listing.execute()] == [DeviceState.IN_SYNC]
    assert [d.mac_address for d in await listing.execute(in_sync)] == [MAC]

    clock[0] = 50.0  # the clock set back: nothing is trusted from a later time
    assert [d.state for d in await listing.execute()] == [DeviceState.IN_SYNC]


async def test_a_device_whose_config_and_record_did_not_change_is_not_made_again() -> None:
    other = MacAddress("aa-bb-cc-dd-ee-00")
    summaries = tuple(
        DeviceConfigSummary(mac, name, None, None, etag=CURRENT)
        for mac, name in ((other, "Porch"), (MAC, "Kitchen"))
    )
    quiet = adding(None, CheckIn(other, 10, 304, CURRENT, "192.0.2.8", "esp"))
    log = SteadyRecords({MAC: polled(0, 30), other: quiet})
    listing = ListDevices(SteadyRepository(ConfigListing(summaries)), log, TIMING)
    before = await listing.execute()
    log.now = {MAC: polled(0, 30, 60, etag="before"), other: quiet}
    after = await listing.execute()
    assert [d.mac_address for d in after] == [other, MAC]
    assert after[0] is before[0]  # the same object, so its encoding is kept too
    assert after[1].state is DeviceState.OUT_OF_SYNC
    log.now = {MAC: log.now[MAC]}  # the other device's record forgotten: made again
    assert (await listing.execute())[0].state is DeviceState.NEVER_SEEN
