"""ASGI target for running under any ASGI server: `hypercorn entrypoints.asgi:app`."""

from __future__ import annotations

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.logs import configure_logging
from entrypoints.server import settings_or_exit

settings = settings_or_exit()
configure_logging(settings.log_level, settings.log_format)
app = create_app(bootstrap(settings))
