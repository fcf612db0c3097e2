"""Settings: the service's configuration, read and checked once from the environment at start."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

DEFAULT_CONFIGS_DIR = Path("data/esp32-configs")
DEFAULT_CORS_ORIGINS = ("http://localhost:3000",)
DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_TOPIC_PREFIX = "iotsupport"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting is malformed; the message names the variable and says what it must be."""


@attrs.frozen
class MqttSettings:
    """Where to announce saved configs; absent when `MQTT_URL` is unset (feature off)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX


@attrs.frozen
class Settings:
    configs_dir: Path = DEFAULT_CONFIGS_DIR
    # Only the default directory is created at start: creating a configured one would hide a
    # missing network mount behind a fresh, empty local directory.
    create_configs_dir: bool = False
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    host: str = "0.0.0.0"
    port: int = 3201
    max_config_bytes: int = DEFAULT_MAX_CONFIG_BYTES
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 10.0
    health_timeout_seconds: float = 1.0
    lock_timeout_seconds: float = 5.0
    body_timeout_seconds: float = 15.0
    send_timeout_seconds: float = 30.0
    log_format: str = "text"
    trust_proxy_headers: bool = False
    # HISTORY=off: no revisions recorded, the history routes answer 404.
    history: bool = True
    history_max_revisions: int = 100
    # 0: kept forever.
    history_max_age_days: int = 365
    # CHECKINS=off: device downloads are not recorded, the device routes answer 404.
    checkins: bool = True
    checkin_flush_seconds: float = 10.0
    checkin_refresh_seconds: float = 300.0
    mqtt: MqttSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise `SettingsError` on the first bad one.
        A variable that is unset leaves the field at its default, written once, above."""
        configs_dir = _text(env, "ESP32_CONFIGS_DIR")
        given: dict[str, Any] = {
            "configs_dir": Path(configs_dir) if configs_dir else None,
            "create_configs_dir": configs_dir is None,
            "cors_origins": _origins(env),
            "host": _text(env, "HOST"),
            "port": _integer(env, "PORT", minimum=1, maximum=65535),
            "max_config_bytes": _integer(env, "MAX_CONFIG_BYTES", minimum=2, maximum=1 << 30),
            "log_level": _log_level(env),
            "shutdown_grace_seconds": _seconds(env, "SHUTDOWN_GRACE_SECONDS"),
            "health_timeout_seconds": _seconds(env, "HEALTH_TIMEOUT_SECONDS", minimum=0.01),
            "lock_timeout_seconds": _seconds(env, "LOCK_TIMEOUT_SECONDS", minimum=0.01),
            "body_timeout_seconds": _seconds(env, "BODY_TIMEOUT_SECONDS", minimum=0.01),
            "send_timeout_seconds": _seconds(env, "SEND_TIMEOUT_SECONDS", minimum=0.01),
            "log_format": _choice(env, "LOG_FORMAT", ("text", "json")),
            "trust_proxy_headers": _flag(env, "TRUST_PROXY_HEADERS"),
            "history": _switch(env, "HISTORY"),
            "history_max_revisions": _integer(
                env, "HISTORY_MAX_REVISIONS", minimum=1, maximum=100_000
            ),
            "history_max_age_days": _integer(
                env, "HISTORY_MAX_AGE_DAYS", minimum=0, maximum=36_500
            ),
            "checkins": _switch(env, "CHECKINS"),
            "checkin_flush_seconds": _seconds(env, "CHECKIN_FLUSH_SECONDS", minimum=0.05),
            "checkin_refresh_seconds": _seconds(env, "CHECKIN_REFRESH_SECONDS"),
            "mqtt": _mqtt(env),
        }
        return cls(**{name: value for name, value in given.items() if value is not None})


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The raw value, or None when unset. Set but empty is an error, not a silent default."""
    value = env.get(name)
    if value is None:
        return None
    if not value.strip():
        raise SettingsError(f"{name} is set but empty; unset it to use the default.")
    return value.strip()


def _integer(env: Mapping[str, str], name: str, *, minimum: int, maximum: int) -> int | None:
    text = _text(env, name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a whole number.") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={value} is out of range ({minimum} to {maximum}).")
    return value


def _seconds(env: Mapping[str, str], name: str, *, minimum: float = 0.0) -> float | None:
    text = _text(env, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number of seconds.") from None
    if not minimum <= value <= 3600:
        raise SettingsError(f"{name}={text} is out of range ({minimum:g} to 3600 seconds).")
    return value


def _origins(env: Mapping[str, str]) -> tuple[str, ...] | None:
    text = _text(env, "CORS_ORIGINS")
    if text is None:
        return None
    expected = 'a JSON array of origins, like ["http://localhost:3000"]'
    try:
        value = json.loads(text)
    except ValueError:
        raise SettingsError(f"CORS_ORIGINS is not valid JSON; expected {expected}.") from None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SettingsError(f"CORS_ORIGINS must be {expected}.")
    return tuple(value)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    text = _text(env, name)
    if text is None:
        return None
    if text.lower() not in choices:
        raise SettingsError(f"{name}={text!r} is not one of {', '.join(choices)}.")
    return text.lower()


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    choice = _choice(env, name, ("false", "true"))
    return None if choice is None else choice == "true"


def _switch(env: Mapping[str, str], name: str) -> bool | None:
    choice = _choice(env, name, ("off", "on"))
    return None if choice is None else choice == "on"


def _log_level(env: Mapping[str, str]) -> str | None:
    text = _text(env, "LOG_LEVEL")
    if text is None:
        return None
    level = text.upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL={text!r} is not one of {', '.join(_LOG_LEVELS)}.")
    return level


_MQTT_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


def _mqtt(env: Mapping[str, str]) -> MqttSettings | None:
    url = _text(env, "MQTT_URL")
    others = ("MQTT_USERNAME", "MQTT_PASSWORD", "MQTT_CA_FILE", "MQTT_TOPIC_PREFIX")
    if url is None:
        for name in others:
            if env.get(name):
                raise SettingsError(f"{name} is set but MQTT_URL is not; set MQTT_URL too.")
        return None
    expected = "like mqtt://broker:1883 or mqtts://broker:8883"
    parsed = urlsplit(url)
    if parsed.scheme not in _MQTT_DEFAULT_PORTS or not parsed.hostname:
        raise SettingsError(f"MQTT_URL={url!r} is not a broker address {expected}.")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.username:
        raise SettingsError(
            f"MQTT_URL={url!r} may hold only a scheme, host and port ({expected}); "
            "credentials go in MQTT_USERNAME and MQTT_PASSWORD."
        )
    try:
        port = parsed.port or _MQTT_DEFAULT_PORTS[parsed.scheme]
    except ValueError:
        raise SettingsError(f"MQTT_URL={url!r} has an invalid port.") from None
    tls = parsed.scheme == "mqtts"
    username, password = _text(env, "MQTT_USERNAME"), env.get("MQTT_PASSWORD")
    if password and username is None:
        raise SettingsError("MQTT_PASSWORD is set but MQTT_USERNAME is not.")
    ca_text = _text(env, "MQTT_CA_FILE")
    ca_file = None
    if ca_text is not None:
        if not tls:
            raise SettingsError("MQTT_CA_FILE is set but MQTT_URL is not mqtts://.")
        ca_file = Path(ca_text)
        if not ca_file.is_file():
            raise SettingsError(f"MQTT_CA_FILE={ca_text!r} is not a readable file.")
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (ssl.SSLError, OSError, ValueError) as exc:
            # Found now, not at the first notice: a bad CA would drop every one silently.
            raise SettingsError(
                f"MQTT_CA_FILE={ca_text!r} holds no usable PEM certificate ({exc})."
            ) from None
    prefix = _text(env, "MQTT_TOPIC_PREFIX") or DEFAULT_TOPIC_PREFIX
    if any(c in prefix for c in "+#\0") or prefix.startswith("/") or prefix.endswith("/"):
        raise SettingsError(
            f"MQTT_TOPIC_PREFIX={prefix!r} must be a plain topic path: no +, # or NUL, "
            "and no leading or trailing /."
        )
    return MqttSettings(parsed.hostname, port, tls, username, password or None, ca_file, prefix)
