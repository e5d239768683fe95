"""Access across real ``hub serve`` processes on one PostgreSQL: revocation holds at once in each."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from servers import HUB, HubServer
from support import SENTRY_SECRET


@pytest.fixture
def two_servers(pg_database_url, tmp_path):
    env = {"DATABASE_URL": pg_database_url, "SENTRY_CLIENT_SECRET": SENTRY_SECRET}
    trusting = '[auth]\ntrusted_header = "X-Forwarded-Email"\ntrusted_proxies = ["127.0.0.1"]\n'
    started = [HubServer(tmp_path, env, name="plain"), HubServer(tmp_path, env, config=trusting, name="trusting")]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.kill()


def hub_command(database_url: str, *argv: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HUB_", "DATABASE_URL"))}
    return subprocess.run([HUB, *argv], env={**env, "DATABASE_URL": database_url}, capture_output=True, text=True,
                          timeout=60, check=True)


async def test_a_revoked_token_is_refused_at_once_by_every_process(pg_database_url, two_servers):
    token = hub_command(pg_database_url, "token", "create", "ci", "--scope", "read").stdout.splitlines()[-1]
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for server in two_servers:
            assert (await client.get(f"{server.url}/api/issues", headers=headers)).status_code == 200
        hub_command(pg_database_url, "token", "revoke", "ci")
        for server in two_servers:
            assert (await client.get(f"{server.url}/api/issues", headers=headers)).status_code == 401
    for server in two_servers:
        assert token not in server.output()


async def test_a_trusted_proxy_header_counts_only_where_configured(two_servers):
    plain, trusting = two_servers
    headers = {"x-forwarded-email": "alice@example.com"}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{plain.url}/api/issues", headers=headers)).status_code == 401
        assert (await client.get(f"{trusting.url}/api/issues", headers=headers)).status_code == 200
        # A person the proxy names gets [auth] trusted_scope (read by default), no more.
        refused = await client.get(f"{trusting.url}/api/tokens", headers=headers)
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
