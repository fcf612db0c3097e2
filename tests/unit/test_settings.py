from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from adapters.mqtt_notifier import MqttNotifier, MqttOptions
from entrypoints.bootstrap import mqtt_notifier
from entrypoints.settings import MqttSettings, Settings, SettingsError
from tests.mqtt.conftest import make_ca


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.configs_dir == Path("data/esp32-configs")
    assert settings.create_configs_dir is True
    assert settings.cors_origins == ("http://localhost:3000",)
    assert (settings.host, settings.port) == ("0.0.0.0", 3201)
    assert settings.max_config_bytes == 1024 * 1024
    assert (settings.history, settings.history_max_revisions) == (True, 100)
    assert settings.history_max_age_days == 365


def test_reads_every_variable() -> None:
    settings = Settings.from_env(
        {
            "ESP32_CONFIGS_DIR": "/srv/configs",
            "CORS_ORIGINS": '["https://admin.home.lan", "http://localhost:3000"]',
            "HOST": "127.0.0.1",
            "PORT": "8080",
            "MAX_CONFIG_BYTES": "2048",
            "LOG_LEVEL": "debug",
            "SHUTDOWN_GRACE_SECONDS": "2.5",
            "SEND_TIMEOUT_SECONDS": "7",
            "HISTORY": "Off",
            "HISTORY_MAX_REVISIONS": "20",
            "HISTORY_MAX_AGE_DAYS": "0",
        }
    )
    assert settings == Settings(
        configs_dir=Path("/srv/configs"),
        create_configs_dir=False,
        cors_origins=("https://admin.home.lan", "http://localhost:3000"),
        host="127.0.0.1",
        port=8080,
        max_config_bytes=2048,
        log_level="DEBUG",
        shutdown_grace_seconds=2.5,
        send_timeout_seconds=7.0,
        history=False,
        history_max_revisions=20,
        history_max_age_days=0,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CORS_ORIGINS": "not-json"}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '"http://x"'}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": "[1, 2]"}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": '[""]'}, "CORS_ORIGINS"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "65536"}, "PORT"),
        ({"MAX_CONFIG_BYTES": "-1"}, "MAX_CONFIG_BYTES"),
        ({"MAX_CONFIG_BYTES": "1MB"}, "MAX_CONFIG_BYTES"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"SHUTDOWN_GRACE_SECONDS": "soon"}, "SHUTDOWN_GRACE_SECONDS"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS"),
        ({"ESP32_CONFIGS_DIR": ""}, "ESP32_CONFIGS_DIR"),
        ({"HOST": "  "}, "HOST"),
        ({"SEND_TIMEOUT_SECONDS": "0"}, "SEND_TIMEOUT_SECONDS"),
        ({"HISTORY": "false"}, "HISTORY"),
        ({"HISTORY_MAX_REVISIONS": "0"}, "HISTORY_MAX_REVISIONS"),
        ({"HISTORY_MAX_AGE_DAYS": "-1"}, "HISTORY_MAX_AGE_DAYS"),
    ],
)
def test_malformed_setting_is_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(named)
    assert "\n" not in message


def test_mqtt_is_off_without_a_url() -> None:
    assert Settings.from_env({}).mqtt is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MQTT_URL": "mqtt://broker"}, MqttSettings("broker", 1883, False)),
        ({"MQTT_URL": "mqtts://broker"}, MqttSettings("broker", 8883, True)),
        (
            {
                "MQTT_URL": "mqtt://10.0.0.5:1884",
                "MQTT_USERNAME": "iot",
                "MQTT_PASSWORD": "pw",
                "MQTT_TOPIC_PREFIX": "home/iot",
            },
            MqttSettings("10.0.0.5", 1884, False, "iot", "pw", topic_prefix="home/iot"),
        ),
    ],
)
def test_mqtt_settings_are_read(env: dict[str, str], expected: MqttSettings) -> None:
    assert Settings.from_env(env).mqtt == expected


def test_mqtt_ca_file_must_exist_and_go_with_mqtts(tmp_path: Path) -> None:
    ca, _, _ = make_ca(tmp_path)
    settings = Settings.from_env({"MQTT_URL": "mqtts://b", "MQTT_CA_FILE": str(ca)})
    assert settings.mqtt is not None
    assert settings.mqtt.ca_file == ca


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MQTT_URL": "http://broker"}, "MQTT_URL"),
        ({"MQTT_URL": "broker:1883"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://broker:port"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://user:pw@broker"}, "MQTT_URL"),
        ({"MQTT_URL": "mqtt://broker/topic"}, "MQTT_URL"),
        ({"MQTT_USERNAME": "iot"}, "MQTT_USERNAME"),
        ({"MQTT_URL": "mqtt://b", "MQTT_PASSWORD": "pw"}, "MQTT_PASSWORD"),
        ({"MQTT_URL": "mqtt://b", "MQTT_CA_FILE": "/etc/hostname"}, "MQTT_CA_FILE"),
        ({"MQTT_URL": "mqtts://b", "MQTT_CA_FILE": "/nonexistent.crt"}, "MQTT_CA_FILE"),
        ({"MQTT_URL": "mqtts://b", "MQTT_CA_FILE": "/etc/hostname"}, "MQTT_CA_FILE"),
        ({"MQTT_URL": "mqtt://b", "MQTT_TOPIC_PREFIX": "home/#"}, "MQTT_TOPIC_PREFIX"),
        ({"MQTT_URL": "mqtt://b", "MQTT_TOPIC_PREFIX": "/home"}, "MQTT_TOPIC_PREFIX"),
    ],
)
def test_malformed_mqtt_setting_is_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(named)


def test_an_empty_environment_gives_the_class_defaults() -> None:
    # The defaults are written once, on the class; only the default directory is created.
    assert Settings.from_env({}) == Settings(create_configs_dir=True)


def test_every_mqtt_setting_reaches_the_notifier() -> None:
    settings_fields = {field.name for field in attrs.fields(MqttSettings)}
    assert settings_fields <= {field.name for field in attrs.fields(MqttOptions)}
    mqtt = MqttSettings("broker.lan", 1883, False, "user", "secret", None, "home")
    assert isinstance(mqtt_notifier(mqtt), MqttNotifier)
