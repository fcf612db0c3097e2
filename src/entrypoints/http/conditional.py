"""Conditional requests (RFC 9110): validators on responses, 304s, and write preconditions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import attrs
from quart import request
from werkzeug.http import http_date, parse_date, parse_etags

from domain.model import ANY_STATE, ConfigDocument, WriteCondition

VALIDATOR_HEADERS = ("ETag", "Last-Modified")


def etag(document: ConfigDocument) -> str:
    """A strong entity tag: the revision of the stored bytes, the same on every replica."""
    return f'"{document.revision}"'


def validators(document: ConfigDocument) -> dict[str, str]:
    return {"ETag": etag(document), "Last-Modified": http_date(document.modified_at)}


@attrs.define
class Conditions:
    """What a GET says it has already: If-None-Match and If-Modified-Since, as sent."""

    if_none_match: str | None
    if_modified_since: str | None

    @classmethod
    def of(cls, header: Callable[[str], str | None]) -> Conditions:
        """Read from request headers; `header` looks a name up (given in lower case)."""
        return cls(header("if-none-match"), header("if-modified-since"))


def unchanged(document: ConfigDocument, conditions: Conditions) -> bool:
    """Whether the caller has this version already: If-None-Match (weak comparison, `*`), or
    else, only when that header is absent, If-Modified-Since."""
    if conditions.if_none_match is not None:
        tags = parse_etags(conditions.if_none_match)
        return tags.star_tag or tags.contains_weak(document.revision)
    since = parse_date(conditions.if_modified_since)
    if since is None or since.timestamp() > time.time():
        # RFC 9110 section 13.1.3: a date in the future is invalid and ignored; honouring it
        # would keep a device on its old config until that date.
        return False
    # HTTP dates have whole seconds: a file changed later in the same second counts as unchanged,
    # which is why clients should prefer If-None-Match.
    return int(document.modified_at) <= since.timestamp()


def device_file_headers(document: ConfigDocument) -> dict[str, str]:
    """Headers of a device download, 200 or 304: validators, and revalidate before reuse."""
    return {**validators(document), "Cache-Control": "no-cache"}


def write_condition() -> WriteCondition:
    """The precondition a write request states through If-Match and If-None-Match.

    If-Match compares strongly (a weak tag never matches); `*` means a config must exist.
    If-None-Match compares weakly; `*` means there must be none (create only). An If-Match
    that is not an entity-tag list (RFC 9110 section 8.8.3: tags in double quotes) is not
    guessed at: the condition never holds, and the 412 says why.
    """
    if "If-Match" not in request.headers and "If-None-Match" not in request.headers:
        return ANY_STATE
    # Only If-Match: a garbled one cannot name the version the caller means, so nothing may be
    # written. A garbled If-None-Match lists nothing that could match, so it forbids nothing.
    if_match = request.headers.get("If-Match")
    if if_match is not None and _ENTITY_TAGS.fullmatch(if_match) is None:
        return WriteCondition(
            never='the If-Match header is not a list of entity tags in double quotes (like "abc") '
            "or *"
        )
    must_exist = must_not_exist = False
    revision_in: frozenset[str] | None = None
    revision_not_in: frozenset[str] = frozenset()
    if "If-Match" in request.headers:
        tags = request.if_match
        if tags.star_tag:
            must_exist = True
        else:
            revision_in = frozenset(tags.as_set(include_weak=False))
            if not revision_in:
                return WriteCondition(
                    never="If-Match holds only weak entity tags (W/...), and a write compares "
                    "tags strongly, so it can never match"
                )
    if "If-None-Match" in request.headers:
        tags = request.if_none_match
        if tags.star_tag:
            must_not_exist = True
        else:
            revision_not_in = frozenset(tags.as_set(include_weak=True))
    return WriteCondition(must_exist, must_not_exist, revision_in, revision_not_in)


# `*`, or entity tags (optionally weak) in double quotes, comma-separated (RFC 9110 8.8.3).
_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_ENTITY_TAGS = re.compile(rf"\s*(?:\*|{_ETAG}(?:\s*,\s*{_ETAG})*)\s*")
