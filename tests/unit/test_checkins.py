"""Device check-ins in the domain: records add up, states, the poll interval estimate."""

from __future__ import annotations

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
)
from domain.model import DeviceConfigSummary, MacAddress

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
    assert polled(0, 30, 60).poll_interval() is None
    assert polled(0, 30, 60, 90).poll_interval() == 30


def test_a_missed_poll_or_a_reboot_does_not_move_the_interval() -> None:
    missed = polled(0, 30, 60, 90, 150, 180, 210)  # one poll missed: a 60 s gap
    rebooted = polled(0, 30, 60, 90, 95, 125, 155)  # a reboot: a 5 s gap
    assert missed.poll_interval() == 30
    assert rebooted.poll_interval() == 30


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
