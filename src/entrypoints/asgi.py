"""ASGI target for running under any ASGI server: `hypercorn entrypoints.asgi:app`."""

from __future__ import annotations

import os

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

settings = Settings.from_env(os.environ)
configure_logging(settings.log_level, settings.log_format)
app = create_app(bootstrap(settings))
