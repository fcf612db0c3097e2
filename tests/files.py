"""What tests see in a configs directory."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.filesystem.locks import LOCK_DIRECTORY


def entries(directory: Path) -> list[str]:
    """Every name in the directory, hidden ones included, but the writers' lock directory."""
    return sorted(name for name in os.listdir(directory) if name != LOCK_DIRECTORY)
