"""Every setting from the environment (HUB_<SECTION>__<KEY>), and ``[hub] log_format = "json"``."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from hub.config import ConfigError, build_settings
from hub.logs import setup_logging
from hub.plugins import build_plugin_manager, config_sections
from servers import HubServer


def _settings(raw: dict, env: dict):
    return build_settings(raw, config_sections(build_plugin_manager()), env=env)


def test_any_core_setting_comes_from_the_environment_over_the_file():
    settings = _settings({"worker": {"max_attempts": 9}, "hub": {"log_level": "DEBUG"}},
                         {"HUB_WORKER__MAX_ATTEMPTS": "3", "HUB_HUB__LOG_FORMAT": "json",
                          "HUB_WORKER__ENABLED": "false", "HUB_AUTH__TRUSTED_PROXIES": '["10.0.0.0/8"]',
                          "HUB_DATABASE__POOL_SIZE": "7", "HUB_HUB__ISSUE_PREFIX": "OPS"})
    assert settings.worker.max_attempts == 3 and settings.worker.enabled is False
    assert settings.hub.log_format == "json" and settings.hub.log_level == "DEBUG"  # the file's, not overridden
    assert settings.auth.trusted_proxies == ["10.0.0.0/8"] and settings.database.pool_size == 7
    assert settings.hub.issue_prefix == "OPS"


def test_plugin_sections_and_nested_tables_too():
    settings = _settings({}, {"HUB_SENTRY__PROJECTS__INCLUDE": '["web-*"]', "HUB_ALERTMANAGER__DEFAULT_PRIORITY": "P2",
                              "HUB_ALERTMANAGER__SEVERITY_PRIORITIES": '{ page = "P0" }'})
    assert settings.plugin("sentry").projects.include == ["web-*"]
    assert settings.plugin("alertmanager").default_priority == "P2"
    assert settings.plugin("alertmanager").severity_priorities == {"page": "P0"}


def test_secrets_may_come_this_way_and_are_masked():
    settings = _settings({}, {"HUB_ALERTMANAGER__TOKEN": "am-token-from-env-0123"})
    assert settings.plugin("alertmanager").token.get_secret_value() == "am-token-from-env-0123"
    assert "am-token-from-env-0123" in settings.secrets


def test_the_generic_name_wins_over_the_plugin_s_own_and_database_url():
    settings = _settings({}, {"ALERTMANAGER_TOKEN": "own-name-token", "HUB_ALERTMANAGER__TOKEN": "generic-token",
                              "DATABASE_URL": "sqlite+aiosqlite:///a.db",
                              "HUB_DATABASE__URL": "sqlite+aiosqlite:///b.db"})
    assert settings.plugin("alertmanager").token.get_secret_value() == "generic-token"
    assert settings.database.url == "sqlite+aiosqlite:///b.db"


@pytest.mark.parametrize(("env", "message"), [
    ({"HUB_NOPE__X": "1"}, "HUB_NOPE__X names unknown section [nope]"),
    ({"HUB_WORKER__MAX_ATTEMPTZ": "3"}, "unknown key [worker] max_attemptz"),
    ({"HUB_WORKER__MAX_ATTEMPTS": "many"}, "[worker] max_attempts"),
    ({"HUB_HUB__LOG_FORMAT": "xml"}, "[hub] log_format"),
    ({"HUB_WORKER__": "1"}, "is not HUB_<SECTION>__<KEY>"),
])
def test_a_wrong_variable_is_one_clear_error(env, message):
    with pytest.raises(ConfigError) as raised:
        _settings({}, env)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_other_hub_variables_are_not_settings():
    # HUB_CONFIG, HUB_LISTEN_URL and the like carry no "__": they are not read as settings.
    assert _settings({}, {"HUB_CONFIG": "x.toml", "HUB_LISTEN_URL": "http://x", "HUB_TRANSPORT": "{}"}).worker.enabled


@pytest.fixture
def json_logging(monkeypatch):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    setup_logging("INFO", ["s3cr3t-value"], "json")
    yield stderr.getvalue
    root.handlers[:], level = saved
    root.setLevel(level)


def test_json_logs_are_one_object_per_line_masked(json_logging):
    log = logging.getLogger("hub.webhook")
    log.warning("forged\n{\"level\": \"ERROR\"}\u2028 secret %s token %s", "s3cr3t-value", "hub_" + "a" * 43)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = json_logging().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "hub.webhook"
    assert first["message"].startswith("forged\n") and "s3cr3t-value" not in lines[0] and "hub_aaaa" not in lines[0]
    assert "[redacted]" in first["message"] and first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


def test_hub_serve_logs_json_when_told_by_the_environment(tmp_path):
    server = HubServer(tmp_path, {"HUB_HUB__LOG_FORMAT": "json", "HUB_WORKER__ENABLED": "false"}).start()
    try:
        assert server.terminate() == 0
    finally:
        server.kill()
    lines = [line for line in server.output().splitlines() if line.strip()]
    assert len(lines) >= 3, server.output()
    records = [json.loads(line) for line in lines]  # every line one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("first admin" in record["message"] for record in records)
