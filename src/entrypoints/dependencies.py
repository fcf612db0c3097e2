"""Access to the app's punq container from inside a request."""

from __future__ import annotations

from typing import Any, TypeVar

import punq
from quart import Quart, current_app

T = TypeVar("T")

_CONTAINER_KEY = "iot_support.container"
_RESOLVED_KEY = "iot_support.resolved"


def attach_container(app: Quart, container: punq.Container) -> None:
    app.extensions[_CONTAINER_KEY] = container


def resolve(service: type[T]) -> T:
    """Return the app's instance of a use case or service.

    Resolved once per app and kept: use cases hold nothing but their ports, and punq's
    resolution (signature inspection on every call) cost more than the request it served.
    """
    resolved: dict[type[Any], Any] = current_app.extensions.setdefault(_RESOLVED_KEY, {})
    instance = resolved.get(service)
    if instance is None:
        container: punq.Container = current_app.extensions[_CONTAINER_KEY]
        instance = resolved[service] = container.resolve(service)
    return instance
