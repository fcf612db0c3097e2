"""ASGI target for running under any ASGI server: `hypercorn entrypoints.asgi:app`."""

from __future__ import annotations

import os

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

app = create_app(bootstrap(Settings.from_env(os.environ)))
