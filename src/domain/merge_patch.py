"""JSON Merge Patch (RFC 7396), as a pure function on decoded JSON values."""

from __future__ import annotations

from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with `patch` merged in, leaving both arguments unchanged.

    An object patch merges key by key, recursively; a `null` member deletes that key. Any other
    patch (array, string, number, true, false, null) replaces the target whole.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
