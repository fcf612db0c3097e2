"""The check-in log used when check-ins are off (CHECKINS=off): it keeps nothing."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.checkins import CheckIn, DeviceRecord
from domain.model import MacAddress
from domain.ports import CheckInLog

# The same empty mapping every time, as the port promises while nothing changed.
NO_RECORDS: Mapping[MacAddress, DeviceRecord] = MappingProxyType({})


class NoCheckIns(CheckInLog):
    def record(self, check_in: CheckIn) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def records(self) -> Mapping[MacAddress, DeviceRecord]:
        return NO_RECORDS

    async def record_of(self, mac_address: MacAddress) -> DeviceRecord | None:
        return None

    async def forget(self, mac_address: MacAddress) -> bool:
        return False
