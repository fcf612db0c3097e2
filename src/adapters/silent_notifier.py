"""The notifier used when notifications are off: it tells nobody."""

from __future__ import annotations

from domain.model import NotifierStats, StoredConfig
from domain.ports import Notifier


class SilentNotifier(Notifier):
    async def config_saved(self, stored: StoredConfig) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def stats(self) -> NotifierStats:
        return NotifierStats()
