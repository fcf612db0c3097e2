"""Domain errors: what went wrong, in words. The HTTP layer maps them to status codes."""

from __future__ import annotations

import enum


class DomainError(Exception):
    """Base of every error the domain and its ports raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def details(self) -> dict[str, str] | None:
        """More about the error, for the `details` of the answer; most errors have none."""
        return None


class InvalidMacAddress(DomainError):
    """The text is not a MAC address in a form the API accepts.

    The message keeps the previous service's wording, which the admin UI shows and its tests
    look for: `Cannot <what> because MAC address '<text>' has invalid format`; `expected` says
    what would have been accepted.
    """

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.expected = expected

    @property
    def details(self) -> dict[str, str]:
        return {"expected": self.expected}


class InvalidDeviceConfig(DomainError):
    """The content cannot be stored as a device config (say, it is not a JSON object)."""


class DeviceConfigTooLarge(DomainError):
    """The config, as it would be stored, is over the storage's size limit: refused, never
    stored, so that whatever is stored can also be served (reads have the same limit)."""

    def __init__(self, mac_address: str, size: int, limit: int) -> None:
        super().__init__(
            f"The config for {mac_address} would be stored as {size} bytes, over the {limit} "
            "byte limit; nothing was written."
        )
        self.mac_address = mac_address


class DeviceConfigNotFound(DomainError):
    """No config is stored for this MAC address."""

    def __init__(self, mac_address: str) -> None:
        # The previous service's wording: the admin UI shows it and its tests look for it.
        super().__init__(f"Config {mac_address} was not found")
        self.mac_address = mac_address


class DeviceConfigExists(DomainError):
    """A create-only save found a config already stored."""

    def __init__(self, mac_address: str) -> None:
        # The previous service's wording: the admin UI shows it and its tests look for it.
        super().__init__(f"Config for {mac_address} already exists")
        self.mac_address = mac_address


class DeviceNotFound(DomainError):
    """No config is stored for this MAC address and no device with it has checked in."""

    def __init__(self, mac_address: str) -> None:
        super().__init__(f"Device {mac_address} has no config and no check-ins")
        self.mac_address = mac_address


RETRY_WITH_CURRENT = "Fetch it again and retry with its current ETag."


class RevisionHoldsNoBytes(DeviceConfigNotFound):
    """A delete revision's file was asked for: a delete keeps no bytes."""

    def __init__(self, mac_address: str, revision: str) -> None:
        DomainError.__init__(
            self,
            f"Revision {revision} of config {mac_address} is a delete; it kept no file. "
            "The revision before it holds what was deleted.",
        )
        self.mac_address = mac_address


class RevisionHoldsNoConfig(InvalidDeviceConfig):
    """A restore or a diff named a revision that holds no config: a delete, or bytes another
    program wrote that are not a JSON object."""

    def __init__(self, mac_address: str, revision: str, what: str, advice: str) -> None:
        super().__init__(f"Revision {revision} of config {mac_address} {what}. {advice}")
        self.mac_address = mac_address


class TooLargeToCompare(InvalidDeviceConfig):
    """A diff of versions larger than a diff is computed for (the work grows faster than the
    size, and a real config is a few kilobytes)."""

    def __init__(self, mac_address: str, size: int, limit: int) -> None:
        super().__init__(
            f"A version of config {mac_address} compared here is {size} bytes; diffs are "
            f"computed for versions of at most {limit} bytes. Download both (their .json "
            "routes) and compare them locally."
        )
        self.mac_address = mac_address


class PreconditionFailed(DomainError):
    """A conditional write found the stored config in another state than the caller expected."""

    def __init__(self, mac_address: str, reason: str, advice: str = RETRY_WITH_CURRENT) -> None:
        super().__init__(
            f"The condition on the config for device {mac_address} does not hold: {reason}; "
            f"nothing was written. {advice}"
        )
        self.mac_address = mac_address
        self.reason = reason


class CorruptDeviceConfig(DomainError):
    """The stored entry exists but is not a usable config; `reason` says what is wrong."""

    def __init__(self, mac_address: str, problem: str, reason: str) -> None:
        super().__init__(
            f"The stored config for device {mac_address} is unusable: {reason}. "
            "Save a new config for this device to replace it."
        )
        self.mac_address = mac_address
        self.problem = problem
        self.reason = reason


class StorageFailure(enum.Enum):
    """Why storage could not do what was asked. The value is a stable label for logs and metrics."""

    DIRECTORY_MISSING = "directory_missing"
    NOT_A_DIRECTORY = "not_a_directory"
    PERMISSION_DENIED = "permission_denied"
    READ_ONLY = "read_only"
    DISK_FULL = "disk_full"
    IO_ERROR = "io_error"
    # Another writer (a thread, process or replica) held this config's write lock past the
    # deadline: a stuck peer must not wedge writes.
    LOCKED = "locked"
    # The lock directory is a symlink or not a directory: it is never followed, since a link
    # could make every writer create files wherever it points.
    BAD_LOCK_DIRECTORY = "bad_lock_directory"


_FAILURE_TEXT = {
    StorageFailure.DIRECTORY_MISSING: "the configs directory does not exist",
    StorageFailure.NOT_A_DIRECTORY: "the configs directory path is not a directory",
    StorageFailure.PERMISSION_DENIED: "permission denied on the configs directory",
    StorageFailure.READ_ONLY: "the configs filesystem is read-only",
    StorageFailure.DISK_FULL: "the configs filesystem is full",
    StorageFailure.IO_ERROR: "an I/O error occurred on the configs filesystem",
    StorageFailure.LOCKED: "another writer holds this config; nothing was written, try again",
    StorageFailure.BAD_LOCK_DIRECTORY: (
        "the lock directory .locks in the configs directory is a symbolic link or not a "
        "directory; replace it with a directory"
    ),
}


class StorageUnavailable(DomainError):
    """Storage failed for a reason outside the request (part of the repository port contract)."""

    def __init__(self, failure: StorageFailure) -> None:
        super().__init__(f"Config storage is unavailable: {_FAILURE_TEXT[failure]}.")
        self.failure = failure

    @property
    def reason(self) -> str:
        return _FAILURE_TEXT[self.failure]

    @property
    def retry_after_seconds(self) -> int | None:
        """How soon a retry may succeed, for `Retry-After`; None when nobody can tell."""
        return 1 if self.failure is StorageFailure.LOCKED else None
