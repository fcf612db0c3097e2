"""What runs beside the app, known to the composition root, not to the domain: a notifier's
lifecycle and its counts. The `Notifier` port says only what the use cases need (`config_saved`);
an adapter that also runs in the background or counts what it did says so by these shapes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs


@runtime_checkable
class Background(Protocol):
    """Started before the app serves (returns at once) and stopped after, within seconds."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@attrs.frozen
class BackgroundServices:
    """Everything the app starts and stops with itself, in order."""

    services: tuple[Background, ...] = ()
