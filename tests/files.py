"""What tests see in a configs directory."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.filesystem.checkins import CHECKIN_DIRECTORY
from adapters.filesystem.history import HISTORY_DIRECTORY
from adapters.filesystem.locks import LOCK_DIRECTORY


def entries(directory: Path) -> list[str]:
    """Every name in the directory, hidden ones included, but the writers' lock directory, the
    history (whose own tests look into it: `history_entries`) and the device check-ins."""
    kept_apart = (LOCK_DIRECTORY, HISTORY_DIRECTORY, CHECKIN_DIRECTORY)
    return sorted(name for name in os.listdir(directory) if name not in kept_apart)


def history_entries(directory: Path) -> list[str]:
    """Every name under the history directory, as `<mac>/<name>`, hidden ones included."""
    root = directory / HISTORY_DIRECTORY
    if not root.exists():
        return []
    return sorted(f"{mac}/{name}" for mac in os.listdir(root) for name in os.listdir(root / mac))
