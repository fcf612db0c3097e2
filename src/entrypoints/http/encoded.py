"""Answers encoded once and kept while the repository hands back the very same object.

The repository returns the same listing, or the same page of a history, while nothing changed
(its contract says so): the encoding of such an answer is most of what it costs, so it is kept
with the object it encodes, and used again only for that object (`is`), never for an equal one
the repository built anew."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Any

from quart import current_app

# Answers kept per app and kind: the few an admin page asks for again and again. Least
# recently used first out, so a sweep through many configs' histories cannot grow memory.
KEPT = 64


def encoded(kind: str, key: Hashable, value: Any, encode: Callable[[Any], bytes]) -> bytes:
    memo: collections.OrderedDict[Hashable, tuple[Any, bytes]] = current_app.extensions.setdefault(
        f"iot_support.encoded.{kind}", collections.OrderedDict()
    )
    kept = memo.get(key)
    if kept is not None and kept[0] is value:
        memo.move_to_end(key)
        return kept[1]
    body = encode(value)
    memo[key] = (value, body)
    memo.move_to_end(key)
    while len(memo) > KEPT:
        memo.popitem(last=False)
    return body
