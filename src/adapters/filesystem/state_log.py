"""Storage trouble logged when it starts, changes or ends, never once per look: probes and
scrapes look every few seconds, and a log line per look would bury everything else."""

from __future__ import annotations

import logging
import threading

from domain.errors import StorageFailure, StorageUnavailable

logger = logging.getLogger("adapters.filesystem")


class StateLog:
    """`failing` and `recovered` are formats taking the subject (a directory); `failing` also
    takes the failure's message and its OS cause."""

    def __init__(self, subject: object, failing: str, recovered: str) -> None:
        self._subject = subject
        self._failing = failing
        self._recovered = recovered
        self._state: StorageFailure | None = None
        # Outcomes arrive from several worker threads: one line per change, not one per thread.
        self._lock = threading.Lock()

    def seen(self, failure: StorageUnavailable | None) -> None:
        state = None if failure is None else failure.failure
        with self._lock:
            if state == self._state:
                return
            self._state = state
        if failure is None:
            logger.info(self._recovered, self._subject)
        else:
            cause = f" ({failure.__cause__})" if failure.__cause__ else ""
            logger.error(self._failing, self._subject, failure.message, cause)
