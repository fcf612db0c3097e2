"""The installed version of the service."""

from __future__ import annotations

from importlib import metadata


def service_version() -> str:
    try:
        return metadata.version("iot-support")
    except metadata.PackageNotFoundError:
        return "0+unknown"
