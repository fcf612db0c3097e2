"""Access to the app's punq container from inside a request."""

from __future__ import annotations

from typing import TypeVar

import punq
from quart import Quart, current_app

T = TypeVar("T")

_CONTAINER_KEY = "iot_support.container"


def attach_container(app: Quart, container: punq.Container) -> None:
    app.extensions[_CONTAINER_KEY] = container


def resolve(service: type[T]) -> T:
    """The app's instance of a use case or service (each registered once, as a singleton)."""
    container: punq.Container = current_app.extensions[_CONTAINER_KEY]
    return container.resolve(service)
