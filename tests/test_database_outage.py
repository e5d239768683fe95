"""PostgreSQL going away and coming back: 503 fast, health says so, the hub recovers by itself."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa

from support import hub_client_factory
from tcp_proxy import TcpProxy

JSON = {"content-type": "application/json"}


def deliver(hc, external_id: str):
    payload = json.dumps({"id": external_id, "action": "open"}).encode()
    return asyncio.wait_for(hc.client.post("/api/echo/webhook", content=payload, headers=JSON), timeout=20)


async def test_webhook_answers_503_while_the_database_is_away_and_recovers(pg_database_url, echo_installed):
    url = sa.engine.make_url(pg_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    factory = hub_client_factory(proxied)
    raw = {"database": {"connect_timeout_seconds": 2}}
    try:
        async with factory(raw=raw) as hc:
            assert (await deliver(hc, "before")).status_code == 200

            proxy.cut()
            down = await deliver(hc, "during")
            assert down.status_code == 503
            assert down.json() == {"success": False, "error": "database unavailable"}
            health = await asyncio.wait_for(hc.client.get("/api/health"), timeout=20)
            assert health.status_code == 503 and health.json()["status"] == "error"
            listed = await asyncio.wait_for(hc.client.get("/api/issues"), timeout=20)
            assert listed.status_code == 503

            proxy.start()
            assert (await asyncio.wait_for(hc.client.get("/api/health"), timeout=20)).status_code == 200
            after = await deliver(hc, "after")
            assert after.status_code == 200 and after.json()["issue"]["identifier"]
            identifiers = [i["identifier"] for i in (await hc.client.get("/api/issues")).json()["items"]]
            assert len(identifiers) == 2  # "during" was refused, never half-written
    finally:
        proxy.close()


async def test_a_dropped_pooled_connection_is_retried_transparently(pg_database_url, echo_installed, caplog):
    url = sa.engine.make_url(pg_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with hub_client_factory(proxied)() as hc:
            assert (await deliver(hc, "one")).status_code == 200
            # The database "restarts": pooled connections die, but it is back at once.
            proxy.cut()
            proxy.start()
            assert (await deliver(hc, "two")).status_code == 200
            assert "Database connection lost; retrying on a new one" in caplog.text
    finally:
        proxy.close()
