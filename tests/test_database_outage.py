"""PostgreSQL going away and coming back: 503 fast, health says so, the hub recovers by itself."""

from __future__ import annotations

import asyncio
import json
import time


from support import hub_client_factory
from test_metrics import samples, value
from tcp_proxy import proxy_in_front_of

JSON = {"content-type": "application/json"}


def deliver(hc, external_id: str):
    payload = json.dumps({"id": external_id, "action": "open"}).encode()
    return asyncio.wait_for(hc.client.post("/api/echo/webhook", content=payload, headers=JSON), timeout=20)


async def test_webhook_answers_503_while_the_database_is_away_and_recovers(pg_database_url, echo_installed):
    proxy, proxied = proxy_in_front_of(pg_database_url)
    factory = hub_client_factory(proxied)
    raw = {"database": {"connect_timeout_seconds": 2}}
    try:
        async with factory(raw=raw) as hc:
            assert (await deliver(hc, "before")).status_code == 200
            counted = samples((await hc.client.get("/metrics")).text)

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
            # The refused delivery is counted as the time budget's, not as a hub error.
            now = samples((await hc.client.get("/metrics")).text)
            for outcome, grew in (("timeout", 1), ("error", 0), ("created", 1)):
                assert value(now, "hub_deliveries_total", source="echo", outcome=outcome) - value(
                    counted, "hub_deliveries_total", source="echo", outcome=outcome) == grew, outcome
    finally:
        proxy.close()


async def test_a_dropped_pooled_connection_is_retried_transparently(pg_database_url, echo_installed, caplog):
    proxy, proxied = proxy_in_front_of(pg_database_url)
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


async def test_health_answers_503_within_its_timeout_during_a_partition(pg_database_url, echo_installed):
    """Packets to PostgreSQL vanish (no reset, no refusal): the pooled connection's ``SELECT 1``
    would wait on TCP for minutes. Health says 503 within its timeout, and 200 once it heals."""
    proxy, proxied = proxy_in_front_of(pg_database_url)
    timeout = 1
    try:
        async with hub_client_factory(proxied)(raw={"database": {"connect_timeout_seconds": timeout}}) as hc:
            assert (await hc.client.get("/api/health")).status_code == 200  # a pooled connection exists
            proxy.blackhole()
            for _ in range(3):  # again and again: a hung probe must not make the next one wait
                started = time.monotonic()
                health = await hc.client.get("/api/health")
                # Before: 11 s with a 1 s timeout (the cancelled ping was awaited until the driver gave up).
                assert health.status_code == 503 and time.monotonic() - started < timeout + 3
            proxy.restore()
            proxy.cut()  # the partition's connections are dead for good; new ones work
            proxy.start()

            async def healthy() -> None:
                while (await hc.client.get("/api/health")).status_code != 200:
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(healthy(), timeout=20)
    finally:
        proxy.close()


async def test_postgresql_connections_use_tcp_keepalives_and_a_user_timeout(pg_database_url, echo_installed):
    async with hub_client_factory(pg_database_url)() as hc:
        async with hc.hub.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            parameters = raw.driver_connection.info.get_parameters()
    assert parameters["keepalives"] == "1" and int(parameters["keepalives_idle"]) > 0
    assert int(parameters["tcp_user_timeout"]) > 0


async def test_a_webhook_is_answered_503_within_its_budget_during_a_partition(pg_database_url, echo_installed):
    """Packets to PostgreSQL vanish: the delivery's statement would wait on TCP for minutes, and
    Sentry gives up after 1 s. The webhook is answered 503 within its budget, every time, and
    deliveries work again once the network heals."""
    proxy, proxied = proxy_in_front_of(pg_database_url)
    budget = 0.8
    try:
        async with hub_client_factory(proxied)(raw={"database": {"webhook_timeout_seconds": budget}}) as hc:
            assert (await deliver(hc, "before")).status_code == 200
            proxy.blackhole()
            for n in range(3):
                started = time.monotonic()
                down = await deliver(hc, f"during-{n}")
                # Before: the answer waited for the whole partition.
                assert down.status_code == 503 and time.monotonic() - started < budget + 1
            proxy.restore()
            proxy.cut()
            proxy.start()

            async def delivered() -> None:
                while (await deliver(hc, "after")).status_code != 200:
                    await asyncio.sleep(0.2)

            await asyncio.wait_for(delivered(), timeout=30)
    finally:
        proxy.close()
