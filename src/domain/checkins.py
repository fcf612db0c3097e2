"""Device check-ins: every download of a device's file tells which version the device holds.

A `200` means the device now holds the ETag it was served, a `304` that it holds the one it
sent, a `404` that a device with a well-formed MAC asked for a config that does not exist (a
newly flashed or mis-provisioned one). A device's `DeviceRecord` is what its check-ins, on every
replica, add up to; its `DeviceState` compares that with the config stored now.
"""

from __future__ import annotations

import enum
import functools
import itertools
import statistics

import attrs

from domain.model import DeviceConfigSummary, MacAddress

# A download's outcome that is a check-in.
CHECK_IN_STATUSES = (200, 304, 404)
# Check-in times kept per device to estimate its poll interval: enough for a median that a
# missed poll or a reboot does not move, small enough to keep 20,000 of.
RECENT_CHECK_INS = 12
# Intervals needed before an estimate is given (one or two say little).
MIN_INTERVALS = 3
# A device is overdue when silent for longer than this many of its own intervals.
OVERDUE_INTERVALS = 3
# Cut to this length: the device's name for itself, not a place to store data.
MAX_USER_AGENT_CHARS = 200


class DeviceState(enum.Enum):
    IN_SYNC = "in_sync"
    OUT_OF_SYNC = "out_of_sync"
    NEVER_SEEN = "never_seen"
    UNKNOWN = "unknown"
    OVERDUE = "overdue"


@attrs.frozen
class CheckIn:
    """One download by a device: when, how it ended, the ETag the device holds after it (None
    after a 404), and who asked (the client as the access log logs it)."""

    mac_address: MacAddress
    at: float
    status: int
    etag: str | None
    client: str | None
    user_agent: str | None


@attrs.frozen
class DeviceRecord:
    """What a device's check-ins add up to: the newest one, and the times of its recent ones
    (ascending), from which its poll interval is estimated."""

    mac_address: MacAddress
    last_seen_at: float
    last_status: int
    device_etag: str | None
    client: str | None
    user_agent: str | None
    recent: tuple[float, ...]

    @classmethod
    def of(cls, check_in: CheckIn) -> DeviceRecord:
        return cls(
            check_in.mac_address,
            check_in.at,
            check_in.status,
            check_in.etag,
            check_in.client,
            _cut(check_in.user_agent),
            (check_in.at,),
        )

    def since(self, moment: float) -> DeviceRecord | None:
        """Only the check-ins after `moment` (a forget): None when there are none."""
        if self.last_seen_at <= moment:
            return None
        if not self.recent or self.recent[0] > moment:
            return self
        return attrs.evolve(self, recent=tuple(at for at in self.recent if at > moment))

    def with_check_in(self, check_in: CheckIn) -> DeviceRecord:
        return self.merged(DeviceRecord.of(check_in))

    def merged(self, other: DeviceRecord) -> DeviceRecord:
        """Both records' check-ins as one: the newest check-in's fields (ties: `other`'s), and
        the recent times of both."""
        newest, older = (other, self) if other.last_seen_at >= self.last_seen_at else (self, other)
        if older.recent and newest.recent and older.recent[-1] < newest.recent[0]:
            # The usual case (a replica's later check-ins on top of the share's), without a
            # set and a sort: a read of 20,000 devices merges each one.
            recent = (older.recent + newest.recent)[-RECENT_CHECK_INS:]
        else:
            recent = tuple(sorted(set(self.recent) | set(other.recent))[-RECENT_CHECK_INS:])
        if recent == newest.recent:
            return newest
        return DeviceRecord(
            newest.mac_address,
            newest.last_seen_at,
            newest.last_status,
            newest.device_etag,
            newest.client,
            newest.user_agent,
            recent,
        )

    def same_check_in(self, other: DeviceRecord) -> bool:
        """Whether the two tell the same about the device but its times: what it holds, how
        its last download ended, and who it is."""
        return (self.device_etag, self.last_status, self.client, self.user_agent) == (
            other.device_etag,
            other.last_status,
            other.client,
            other.user_agent,
        )

    @functools.cached_property
    def poll_interval(self) -> float | None:
        """The device's usual time between check-ins: the median of its recent intervals, so a
        missed poll (one long interval) or a reboot (one short) does not move it; None until
        MIN_INTERVALS are known. Worked out once per record: a list of 20,000 devices asks it
        for each (its state, its fields)."""
        gaps = [later - earlier for earlier, later in itertools.pairwise(self.recent)]
        if len(gaps) < MIN_INTERVALS:
            return None
        return statistics.median(gaps)


def adding(record: DeviceRecord | None, check_in: CheckIn) -> DeviceRecord:
    """`record` (None: the device's first) with one more check-in."""
    return DeviceRecord.of(check_in) if record is None else record.with_check_in(check_in)


@attrs.frozen
class Device:
    """A device as an admin sees it: its config (if any) against what it last fetched."""

    mac_address: MacAddress
    has_config: bool
    config_etag: str | None
    device_name: str | None
    record: DeviceRecord | None
    state: DeviceState


@attrs.frozen
class CheckInTiming:
    """How check-ins travel: `quiet_floor_seconds` is the longest one can take to reach
    another replica (the refresh period plus two flush intervals), below which no device is
    called overdue."""

    quiet_floor_seconds: float


def device(
    mac_address: MacAddress,
    summary: DeviceConfigSummary | None,
    record: DeviceRecord | None,
    now: float,
    timing: CheckInTiming,
) -> Device:
    """The device with this config summary (None: no usable config) and record."""
    etag = summary.etag if summary is not None else None
    return Device(
        mac_address,
        has_config=summary is not None,
        config_etag=etag,
        device_name=summary.device_name if summary is not None else None,
        record=record,
        state=device_state(
            record, etag if summary is not None else None, now, timing.quiet_floor_seconds
        ),
    )


def overdue_at(record: DeviceRecord, quiet_floor: float) -> float | None:
    """When the device becomes overdue if it stays silent: after OVERDUE_INTERVALS of its own
    intervals, and never sooner than `quiet_floor` seconds, the longest a check-in can take to
    reach another replica (in steady state a device's check-ins are written at most once per
    refresh period); None while its interval is not known."""
    interval = record.poll_interval
    if interval is None:
        return None
    return record.last_seen_at + max(OVERDUE_INTERVALS * interval, quiet_floor)


def device_state(
    record: DeviceRecord | None, config_etag: str | None, now: float, quiet_floor: float
) -> DeviceState:
    """The state of a device with this record (None: never seen) and config (None: none);
    `overdue` (see `overdue_at`) takes precedence over in or out of sync."""
    if record is None:
        return DeviceState.NEVER_SEEN
    if config_etag is None:
        return DeviceState.UNKNOWN
    due = overdue_at(record, quiet_floor)
    if due is not None and now > due:
        return DeviceState.OVERDUE
    if record.device_etag == config_etag:
        return DeviceState.IN_SYNC
    return DeviceState.OUT_OF_SYNC


def _cut(user_agent: str | None) -> str | None:
    return user_agent[:MAX_USER_AGENT_CHARS] if user_agent else None
