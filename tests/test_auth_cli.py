"""``hub token create|list|revoke`` and ``hub user add|remove``, in-process, on both databases."""

from __future__ import annotations

import asyncio
import io

import pytest

from hub import db
from hub.auth.accounts import authenticate_user
from hub.auth.tokens import authenticate_token
from hub.cli import main
from hub.config import DatabaseSettings


@pytest.fixture
def hub_cli(database_url, tmp_path, monkeypatch, capsys):
    config = tmp_path / "hub.toml"
    config.write_text("")
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = main([*argv, "--config", str(config)])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def check(database_url: str, coro_fn):
    async def go():
        engine = db.create_engine(DatabaseSettings(url=database_url))
        try:
            return await coro_fn(engine)
        finally:
            await engine.dispose()
    return asyncio.run(go())


def test_token_create_prints_only_the_token_and_list_and_revoke_work(hub_cli, database_url):
    status, out, err = hub_cli("token", "create", "ci-reader", "--scope", "read")
    assert status == 0 and out.count("\n") == 1
    token = out.strip()
    assert token.startswith("hub_") and "shown only now" in err and token not in err
    principal = check(database_url, lambda engine: authenticate_token(engine, token))
    assert (principal.actor, principal.scope) == ("token:ci-reader", "read")

    status, _out, err = hub_cli("token", "create", "ci-reader", "--scope", "admin")
    assert status == 1 and "exists" in err and err.count("\n") == 1

    status, out, _err = hub_cli("token", "list")
    assert status == 0 and "ci-reader" in out and "read" in out and "never" not in out and token not in out

    assert hub_cli("token", "revoke", "ci-reader")[0] == 0
    assert check(database_url, lambda engine: authenticate_token(engine, token)) is None
    status, _out, err = hub_cli("token", "revoke", "ci-reader")
    assert status == 1 and "no token named" in err


def test_a_bad_scope_or_name_is_one_line(hub_cli, capsys):
    with pytest.raises(SystemExit):
        hub_cli("token", "create", "x", "--scope", "root")
    assert "invalid choice" in capsys.readouterr().err
    status, _out, err = hub_cli("token", "create", "bad name!", "--scope", "read")
    assert status == 1 and err.startswith("hub: invalid token name")


def test_user_add_reads_the_password_from_stdin_and_stores_a_hash(hub_cli, database_url):
    status, out, err = hub_cli("user", "add", "alice", "--scope", "admin", stdin="s3cret-password\nignored\n")
    assert status == 0 and out == "" and "alice" in err
    principal = check(database_url, lambda engine: authenticate_user(engine, "alice", "s3cret-password"))
    assert (principal.actor, principal.scope) == ("user:alice", "admin")
    assert check(database_url, lambda engine: authenticate_user(engine, "alice", "ignored")) is None
    status, _out, err = hub_cli("user", "add", "bob", stdin="short\n")
    assert status == 1 and "at least 8" in err
    assert hub_cli("user", "remove", "alice")[0] == 0
    assert check(database_url, lambda engine: authenticate_user(engine, "alice", "s3cret-password")) is None


def test_serve_refuses_a_public_address_without_a_sentry_secret(tmp_path):
    from test_cli import assert_one_line_error, free_port, run_hub

    result = run_hub("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert_one_line_error(result, "refusing to listen on 0.0.0.0: ")
    # One line naming every plugin's reason.
    assert "SENTRY_CLIENT_SECRET is not set" in result.stderr.splitlines()[-1]
    assert "neither ALERTMANAGER_TOKEN nor basic auth is set" in result.stderr.splitlines()[-1]


def test_the_exposure_check_passes_loopback_a_secret_or_allow_unsigned():
    from hub.auth.exposure import check_exposure, is_loopback
    from hub.config import ConfigError
    from hub.plugins import build_plugin_manager
    from support import make_settings

    pm = build_plugin_manager()
    unsigned = make_settings("sqlite+aiosqlite:///x.db", pm=pm)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("hub.example.com") and not is_loopback("10.0.0.1")
    check_exposure(unsigned, pm, "127.0.0.1")
    with pytest.raises(ConfigError, match="allow_unsigned"):
        check_exposure(unsigned, pm, "10.0.0.1")
    # Alertmanager's webhook is made safe the same way (its own reason otherwise).
    safe = {"alertmanager": {"allow_unauthenticated": True}}
    check_exposure(make_settings("sqlite+aiosqlite:///x.db", {"sentry": {"allow_unsigned": True}, **safe}, pm=pm),
                   pm, "0.0.0.0")
    check_exposure(make_settings("sqlite+aiosqlite:///x.db", safe, env={"SENTRY_CLIENT_SECRET": "s" * 16}, pm=pm),
                   pm, "::")
    with pytest.raises(ConfigError, match="ALERTMANAGER_TOKEN"):
        check_exposure(make_settings("sqlite+aiosqlite:///x.db", env={"SENTRY_CLIENT_SECRET": "s" * 16}, pm=pm),
                       pm, "::")
