"""No raw token, password or cookie is stored anywhere: a dump of the whole database is searched."""

from __future__ import annotations

import base64
import re
import sqlite3
import subprocess

import pytest
import sqlalchemy as sa

from hub.auth.accounts import add_user
from hub.auth.tokens import create_token
from hub.db import libpq_url, sync_url

pytestmark = pytest.mark.usefixtures("echo_installed")

PASSWORD = "a password nobody should find 7"


def dump(database_url: str) -> str:
    """Every row of every table, as text: ``pg_dump`` on PostgreSQL, ``iterdump`` on SQLite."""
    if database_url.startswith("sqlite"):
        path = sa.engine.make_url(sync_url(database_url)).database
        with sqlite3.connect(path) as connection:
            return "\n".join(connection.iterdump())
    return subprocess.run(["pg_dump", "--data-only", libpq_url(database_url)], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def forms(secret: str) -> list[str]:
    """The secret as text, and in the encodings a careless write might use."""
    return [secret, base64.b64encode(secret.encode()).decode(), secret.encode().hex()]


async def test_tokens_passwords_and_cookies_are_in_no_table(hub_client, database_url, caplog):
    async with hub_client(token_scope=None) as hc:
        first_run = re.search(r"token=(\S+)", next(r.getMessage() for r in caplog.records if "first admin" in r.getMessage())).group(1)
        assert (await hc.client.get(f"/login/first-run?token={first_run}", follow_redirects=False)).status_code == 303
        token = await create_token(hc.hub.engine, "ci", "write")
        await add_user(hc.hub.engine, "alice", PASSWORD)
        page = await hc.client.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        signed_in = await hc.client.post("/login", data={"name": "alice", "password": PASSWORD, "_csrf_token": csrf},
                                         follow_redirects=False)
        assert signed_in.status_code == 303
        session = hc.client.cookies.get("hub_session")
        # A delivery and a triage change carrying the token: nothing of it in the delivery log or timeline.
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}", "cookie": f"hub_session={session}"}
        assert (await hc.client.post("/api/echo/webhook", content=b'{"id": "d1", "action": "open"}', headers=headers)).status_code == 200
        assert (await hc.client.post("/api/issues/CHIPP-1/comments", content=b'{"body": "hi"}', headers=headers)).status_code == 201
        # A failed login: its attempt row names the account, never the password tried.
        await hc.client.post("/login", data={"name": "alice", "password": PASSWORD + "!", "_csrf_token": csrf})
    text = dump(database_url)
    assert "hub_token" in text or "INSERT INTO" in text or "COPY" in text  # the dump is not empty
    assert "token:ci" in text and "user:alice" in text  # and it holds what was written
    for secret in (token, PASSWORD, PASSWORD + "!", session, first_run):
        for form in forms(secret):
            assert form not in text, "a secret was stored in clear"
    for secret in (token, PASSWORD, session, first_run):
        assert all(secret not in record.getMessage() for record in caplog.records if "first admin" not in record.getMessage())


def test_an_api_token_is_masked_in_log_lines_and_stored_errors_even_when_not_configured():
    import logging

    from hub.auth.digests import new_secret
    from hub.redact import MASK, RedactingFilter, redact

    token = new_secret("hub_")
    assert redact(f"GitHub said: bad credentials {token}!", ()) == f"GitHub said: bad credentials {MASK}!"
    record = logging.LogRecord("hub", logging.WARNING, __file__, 1, "called with %s", (token,), None)
    assert RedactingFilter(()).filter(record) and token not in record.getMessage() and MASK in record.getMessage()
    assert redact("hub_short is not a token", ()) == "hub_short is not a token"
