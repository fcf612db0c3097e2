"""History: every version of a config this service stored, and every delete, as revisions."""

from __future__ import annotations

import enum

import attrs

from domain.errors import RevisionHoldsNoConfig
from domain.model import JsonObject, MacAddress


class Operation(enum.StrEnum):
    """What made a revision."""

    SAVE = "save"
    PATCH = "patch"
    DELETE = "delete"
    RESTORE = "restore"
    # A version another program wrote, found (and kept) before our next write replaced it.
    EXTERNAL = "external"


@attrs.frozen
class WriteOrigin:
    """Who asked for a write, as far as the service can tell (kept with its revision)."""

    client: str | None = None
    # The user a trusted proxy named; never taken from an untrusted request.
    user: str | None = None
    correlation_id: str | None = None


UNKNOWN_ORIGIN = WriteOrigin()


@attrs.frozen
class Revision:
    """One recorded version of a config (or its delete). `revision` is opaque to callers and
    the same on every replica; revisions of one config sort by it, oldest first."""

    revision: str
    operation: Operation
    saved_at: float
    # The stored bytes' revision (`ConfigDocument.revision`, what the ETag quotes); for a
    # delete, the revision of the bytes that were deleted.
    etag: str
    size: int
    origin: WriteOrigin = UNKNOWN_ORIGIN


@attrs.frozen
class ConfigHistory:
    """A page of one config's revisions, newest first; `current` names the revision whose bytes
    are stored now (None when the config is deleted, or was last written by another program
    and not written by us since)."""

    revisions: tuple[Revision, ...]
    current: str | None = None


@attrs.frozen
class RevisionContent:
    """A revision with the bytes it kept (empty for a delete) and the config they hold (None
    for a delete, and for bytes another program wrote that are not a JSON object)."""

    revision: Revision
    body: bytes
    content: JsonObject | None = None


@attrs.frozen
class DeletedConfig:
    """A config whose newest revision is a delete: when, and the revision that deleted it (the
    one before it holds what was deleted)."""

    mac_address: MacAddress
    deleted_at: float
    revision: str


# The name a diff takes for "the version stored now", where it takes a revision id.
CURRENT = "current"


# How many revisions one history answer may hold (API.md: default 50, at most 1000).
DEFAULT_HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 1000


def holds_no_config(
    mac_address: MacAddress, found: RevisionContent, doing: str
) -> RevisionHoldsNoConfig:
    """The error for a restore or diff (`doing`: "restore", "compare") of a revision that holds
    no config."""
    if found.revision.operation is Operation.DELETE:
        what = f"is a delete and holds no config to {doing}"
        advice = f"The revision before it holds what was deleted: {doing} that one."
    else:
        what = "holds a version another program wrote that is not a JSON object"
        advice = f"Only a revision that holds a config can be used to {doing}."
    return RevisionHoldsNoConfig(str(mac_address), found.revision.revision, what, advice)
