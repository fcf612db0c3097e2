"""JSON Patch (RFC 6902) between two versions of a config, as a pure function."""

from __future__ import annotations

from typing import Any

import jsonpatch

from domain.model import JsonObject

# The largest version (stored bytes) a diff is computed for. jsonpatch's work grows faster
# than the size (measured: 0.04 s for a 1,000-item array shuffled, 0.65 s for 10,000, 5.5 s
# for 50,000); a real config is a few kilobytes, and ESP32 firmware could not hold more.
MAX_DIFF_BYTES = 64 * 1024


def json_patch(source: JsonObject, target: JsonObject) -> list[dict[str, Any]]:
    """The operations that turn `source` into `target` (applied in order, RFC 6902)."""
    operations: list[dict[str, Any]] = jsonpatch.make_patch(source, target).patch
    return operations
