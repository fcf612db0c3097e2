"""History: every version of a config this service stored, and every delete, as revisions."""

from __future__ import annotations

import enum

import attrs


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
    """A revision with the bytes it kept (empty for a delete)."""

    revision: Revision
    body: bytes


# How many revisions one history answer may hold (API.md: default 50, at most 1000).
DEFAULT_HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 1000
