"""The notifier used when notifications are off: it tells nobody."""

from __future__ import annotations

from domain.model import StoredConfig
from domain.ports import Notifier


class SilentNotifier(Notifier):
    async def config_saved(self, stored: StoredConfig) -> None:
        return None
