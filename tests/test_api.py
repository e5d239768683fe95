"""The issues API and health, on both databases."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("echo_installed")

JSON = {"content-type": "application/json"}


async def deliver(hc, **payload) -> dict:
    response = await hc.client.post("/api/echo/webhook", content=json.dumps(payload).encode(), headers=JSON)
    assert response.status_code == 200, response.text
    return response.json()


async def test_health_reports_the_database(hub_client):
    async with hub_client() as hc:
        response = await hc.client.get("/api/health")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        assert response.json()["dialect"] in ("sqlite", "postgresql")


async def test_list_is_newest_first_paginated_and_filtered(hub_client):
    async with hub_client() as hc:
        for i in range(5):
            await deliver(hc, id=f"e{i}", action="open", title=f"t{i}")
        await deliver(hc, id="e0", action="close", at="x")
        page = (await hc.client.get("/api/issues", params={"per_page": 2})).json()
        assert [item["identifier"] for item in page["items"]] == ["CHIPP-5", "CHIPP-4"]
        assert (page["total"], page["page"], page["per_page"]) == (5, 1, 2)
        last = (await hc.client.get("/api/issues", params={"per_page": 2, "page": 3})).json()
        assert [item["identifier"] for item in last["items"]] == ["CHIPP-1"]
        closed = (await hc.client.get("/api/issues", params={"status": "closed"})).json()
        assert [item["identifier"] for item in closed["items"]] == ["CHIPP-1"]
        assert closed["items"][0]["comments"][0]["body"] == "Echo closed it"
        by_label = (await hc.client.get("/api/issues", params={"label": "Echo"})).json()
        assert by_label["total"] == 5
        assert by_label["items"][0]["labels"] == [{"name": "Echo", "color": "#00AA00"}]
        assert (await hc.client.get("/api/issues", params={"label": "Nope"})).json()["total"] == 0
        by_source = (await hc.client.get("/api/issues", params={"source": "echo"})).json()
        assert by_source["total"] == 5
        assert by_source["items"][0]["links"][0]["external_url"] == "https://echo.test/e4"
        assert (await hc.client.get("/api/issues", params={"source": "sentry"})).json()["total"] == 0
        # Keyset pages: ``next`` continues after the last row, every issue once, in order.
        seen, cursor = [], None
        while True:
            answer = (await hc.client.get("/api/issues", params={"per_page": 2, **({"after": cursor} if cursor else {})})).json()
            seen += [item["identifier"] for item in answer["items"]]
            if (cursor := answer["next"]) is None:
                break
        assert seen == ["CHIPP-5", "CHIPP-4", "CHIPP-3", "CHIPP-2", "CHIPP-1"]
        assert (await hc.client.get("/api/issues", params={"after": "bm90IGEgY3Vyc29y"})).status_code == 400
        searched = (await hc.client.get("/api/issues", params={"q": "t3", "sort": "priority"})).json()
        assert [item["identifier"] for item in searched["items"]] == ["CHIPP-4"]


async def test_detail_has_labels_links_comments_and_jobs(hub_client):
    async with hub_client() as hc:
        created = await deliver(hc, id="e1", action="open", title="Boom", first_seen="2026-01-01T00:00:00Z")
        detail = (await hc.client.get(f"/api/issues/{created['issue']['identifier']}")).json()
        assert detail["id"] == created["issue"]["id"]
        assert detail["title"] == "[echo] Boom" and detail["status"] == "open" and detail["priority"] == "P2"
        assert detail["labels"] == [{"name": "Echo", "color": "#00AA00"}]
        assert detail["links"][0]["source"] == "echo"
        assert detail["links"][0]["metadata"] == {"first_seen": "2026-01-01T00:00:00Z", "files": []}
        assert detail["comments"] == []
        assert [(job["kind"], job["status"]) for job in detail["jobs"]] == [("enrich", "queued")]
        assert detail["created_at"].endswith("+00:00")


async def test_unknown_identifier_is_404_and_bad_filters_400(hub_client):
    async with hub_client() as hc:
        assert (await hc.client.get("/api/issues/CHIPP-999")).status_code == 404
        assert (await hc.client.get("/api/issues", params={"status": "bogus"})).status_code == 400
        assert (await hc.client.get("/api/issues", params={"per_page": 0})).status_code == 400
