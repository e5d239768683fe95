"""Config: typed sections, env overrides, secrets only from the environment, unknown keys reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.bootstrap import load
from hub.config import ConfigError, build_settings, read_config_file
from hub.db import async_url, sync_url
from hub.plugins import build_plugin_manager, config_sections


def sections(echo=True):
    return config_sections(build_plugin_manager())


def test_defaults_are_the_embedded_database_and_chipp_prefix():
    settings = build_settings({}, env={})
    assert settings.database.url == "sqlite+aiosqlite:///./hub.db"
    assert settings.hub.issue_prefix == "CHIPP"
    assert settings.hub.timezone == "UTC"


def test_database_url_env_overrides_the_file():
    settings = build_settings({"database": {"url": "sqlite:///a.db"}}, env={"DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database.url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("url", "expected_async", "expected_sync"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_plain_urls_are_accepted(url, expected_async, expected_sync):
    assert async_url(url) == expected_async
    assert sync_url(url) == expected_sync


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"hub": {"issue_prefx": "X"}}, "unknown key [hub] issue_prefx"),
        ({"hub": {"timezone": "Mars/Base"}}, "[hub] timezone: Value error, unknown time zone 'Mars/Base'"),
        ({"hub": {"port": "eighty"}}, "[hub] port"),
        ({"nonsense": {}}, "unknown section [nonsense]"),
        ({"hub": "flat"}, "[hub] must be a table"),
    ],
)
def test_bad_config_is_one_clear_error(raw, message):
    with pytest.raises(ConfigError) as error:
        build_settings(raw, env={})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_hook_register_config_sections_are_validated(echo_installed):
    with pytest.raises(ConfigError, match=r"unknown key \[echo\] tokn"):
        build_settings({"echo": {"tokn": "x"}}, sections(), env={})
    settings = build_settings({"echo": {"enrich": "fail"}}, sections(), env={"ECHO_TOKEN": "from-env"})
    assert settings.plugin("echo").enrich == "fail"
    assert settings.plugin("echo").token == "from-env"
    assert settings.secrets == ("from-env",)


def test_secrets_are_refused_in_the_file(echo_installed):
    with pytest.raises(ConfigError, match=r"\[echo\] token is a secret: set it in the environment \(ECHO_TOKEN\)"):
        build_settings({"echo": {"token": "oops"}}, sections(), env={})


def test_invalid_toml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[hub\nport = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        read_config_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.toml")


def test_disabled_plugins_are_not_loaded(tmp_path: Path, echo_installed):
    path = tmp_path / "config.toml"
    path.write_text('[plugins]\ndisabled = ["echo"]\n')
    _settings, pm = load(path, env={})
    assert pm.get_plugin("echo") is None
    assert pm.get_plugin("sentry") is not None
    with pytest.raises(ConfigError, match=r"unknown section \[echo\]"):
        path.write_text('[plugins]\ndisabled = ["echo"]\n[echo]\nenrich = "ok"\n')
        load(path, env={})


def test_hook_check_config_problems_stop_the_start(echo_installed):
    from hub.runtime import check_plugins

    pm = build_plugin_manager()
    fine = build_settings({}, config_sections(pm), env={})
    check_plugins(fine, pm)
    refusing = build_settings({"echo": {"refuse_to_start": True}}, config_sections(pm), env={})
    with pytest.raises(ConfigError, match=r"\[echo\] refuse_to_start is set"):
        check_plugins(refusing, pm)


def test_hook_check_config_refusal_is_one_line_from_the_cli(tmp_path: Path):
    import os
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text("[echo]\nrefuse_to_start = true\n")
    site = Path(__file__).parent / "plugins" / "site"
    result = subprocess.run([str(Path(sys.executable).parent / "hub"), "serve"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "hub: [echo] refuse_to_start is set"
    assert "Traceback" not in result.stderr


def test_the_public_url_is_the_base_of_links_others_show():
    from hub.config import ConfigError, build_settings

    settings = build_settings({"hub": {"public_url": "https://hub.example.com/"}}, env={})
    assert settings.issue_url("CHIPP-5") == "https://hub.example.com/issues/CHIPP-5"
    older = build_settings({"auth": {"public_url": "https://old.example.com"}}, env={})
    assert older.public_base() == "https://old.example.com"  # the older name still works
    both = build_settings({"hub": {"public_url": "https://new.example.com"},
                           "auth": {"public_url": "https://old.example.com"}}, env={})
    assert both.public_base() == "https://new.example.com"
    for bad in ("hub.example.com", "https://hub.example.com/?x=1", "javascript:alert(1)"):
        with pytest.raises(ConfigError, match=r"\[hub\] public_url"):
            build_settings({"hub": {"public_url": bad}}, env={})


@pytest.mark.parametrize(("host", "base"), [("0.0.0.0", "http://127.0.0.1:8123"), ("::", "http://127.0.0.1:8123"),
                                            ("::1", "http://[::1]:8123"), ("10.1.2.3", "http://10.1.2.3:8123"),
                                            ("hub.internal", "http://hub.internal:8123")])
def test_without_a_public_url_the_base_is_where_the_hub_listens(host, base, monkeypatch):
    """An IPv6 listen address is bracketed and a wildcard is this machine, as for the login link."""
    from hub.config import build_settings

    monkeypatch.delenv("HUB_LISTEN_URL", raising=False)
    settings = build_settings({"hub": {"host": host, "port": 8123}}, env={})
    assert settings.public_base() == base
