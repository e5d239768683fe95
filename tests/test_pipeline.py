"""The webhook pipeline end to end, driven through a third-party plugin installed by entry point."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from hub import hookimpl
from hub.models import Delivery, ExternalIssue, Issue, Job, Label
from hub.plugins import build_plugin_manager
from hub.store.writes import REJECTED_BODY_CHARS

pytestmark = pytest.mark.usefixtures("echo_installed")

JSON = {"content-type": "application/json"}


def body(**payload) -> bytes:
    return json.dumps(payload).encode()


async def count(hub, model) -> int:
    async with hub.engine.connect() as connection:
        return (await connection.execute(sa.select(sa.func.count()).select_from(model.__table__))).scalar_one()


async def delivery_rows(hub) -> list[dict]:
    table = Delivery.__table__
    async with hub.engine.connect() as connection:
        rows = await connection.execute(sa.select(table).order_by(table.c.created_at, table.c.status.desc()))
        return [dict(row) for row in rows.mappings()]


async def test_hook_register_sources_mounts_routes_for_a_third_party_plugin(hub_client):
    async with hub_client() as hc:
        health = await hc.client.get("/api/echo/webhook")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "endpoint": "/api/echo/webhook",
                                 "description": "Echo test source", "supported_events": ["open", "close"]}
        schema = (await hc.client.get("/schema/openapi.json")).json()
        assert "/api/echo/webhook" in schema["paths"]
        assert (await hc.client.get("/api/nosuchsource/webhook")).status_code == 404


async def test_hook_accept_webhook_and_build_issue_create_an_issue(hub_client):
    async with hub_client() as hc:
        response = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open", title="Boom"),
                                         headers=JSON)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["success"] is True and answer["echo"] == {"id": "e1"}
        assert answer["issue"]["identifier"] == "CHIPP-1"
        async with hc.hub.engine.connect() as connection:
            issue = (await connection.execute(sa.select(Issue.__table__))).mappings().one()
            link = (await connection.execute(sa.select(ExternalIssue.__table__))).mappings().one()
            job = (await connection.execute(sa.select(Job.__table__))).mappings().one()
            delivery = (await connection.execute(sa.select(Delivery.__table__))).mappings().one()
        assert issue["title"] == "[echo] Boom" and issue["priority"] == "P2" and issue["status"] == "open"
        assert issue["id"] == answer["issue"]["id"]
        assert (link["source"], link["external_id"], link["external_url"]) == ("echo", "e1", "https://echo.test/e1")
        assert job["kind"] == "enrich" and job["status"] == "queued" and job["issue_id"] == issue["id"]
        assert delivery["outcome"] == "created" and delivery["issue_id"] == issue["id"]
        assert delivery["response"] == answer


async def test_duplicate_delivery_is_deduplicated(hub_client):
    async with hub_client() as hc:
        first = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=JSON)
        second = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=JSON)
        assert second.status_code == 200
        assert second.json() == {"success": True, "deduplicated": True, "issue": first.json()["issue"],
                                 "echo": {"id": "e1"}, "message": "Issue already tracked as CHIPP-1"}
        assert await count(hc.hub, Issue) == 1
        assert await count(hc.hub, Job) == 1
        assert await count(hc.hub, Delivery) == 2


async def test_concurrent_duplicates_make_one_issue(hub_client):
    async with hub_client() as hc:
        responses = await asyncio.gather(*[
            hc.client.post("/api/echo/webhook", content=body(id="same", action="open"), headers=JSON)
            for _ in range(20)
        ])
        assert [r.status_code for r in responses] == [200] * 20
        identifiers = {r.json()["issue"]["identifier"] for r in responses}
        assert len(identifiers) == 1
        assert sum(1 for r in responses if not r.json().get("deduplicated")) == 1
        assert await count(hc.hub, Issue) == 1
        assert await count(hc.hub, ExternalIssue) == 1


async def test_concurrent_distinct_deliveries_get_unique_identifiers(hub_client):
    async with hub_client() as hc:
        responses = await asyncio.gather(*[
            hc.client.post("/api/echo/webhook", content=body(id=f"e{i}", action="open"), headers=JSON)
            for i in range(30)
        ])
        identifiers = [r.json()["issue"]["identifier"] for r in responses]
        assert len(set(identifiers)) == 30
        assert await count(hc.hub, Issue) == 30
        assert await count(hc.hub, Label) == 1  # the shared "Echo" label, created once


async def test_hook_verify_webhook_rejects_bad_tokens(hub_client):
    async with hub_client(env={"ECHO_TOKEN": "s3cret-token"}) as hc:
        bad = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                   headers={**JSON, "x-echo-token": "wrong"})
        assert bad.status_code == 401
        assert bad.json() == {"success": False, "error": "bad echo token"}
        good = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                    headers={**JSON, "x-echo-token": "s3cret-token"})
        assert good.status_code == 200
        # The rejection is logged too, without the request id it claimed and without a credential.
        rows = await delivery_rows(hc.hub)
        assert [(row["status"], row["outcome"], row["reason"]) for row in rows] == [
            (401, "unauthorized", "bad echo token"), (200, "created", None)]
        assert all("x-echo-token" not in row["headers"] for row in rows)


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 400, "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid JSON"),
        (b'{"action": "open"}', 400, "id is missing"),
    ],
)
async def test_bad_bodies_are_400_and_logged_with_a_cut_body(hub_client, content, status, error):
    async with hub_client() as hc:
        response = await hc.client.post("/api/echo/webhook", content=content, headers=JSON)
        assert response.status_code == status
        assert error in response.json()["error"]
        [row] = await delivery_rows(hc.hub)
        assert (row["status"], row["outcome"], row["request_id"]) == (status, "rejected", None)
        assert error in row["reason"]
        assert row["body"] == content[:REJECTED_BODY_CHARS].decode()
        assert await count(hc.hub, Issue) == 0


async def test_wrong_content_type_is_415(hub_client):
    async with hub_client() as hc:
        response = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                        headers={"content-type": "text/plain"})
        assert response.status_code == 415
        [row] = await delivery_rows(hc.hub)
        assert (row["status"], row["reason"], row["body"]) == (415, "content type must be application/json", "")


async def test_body_over_the_limit_is_413(hub_client):
    async with hub_client(raw={"hub": {"max_body_bytes": 2048}}) as hc:
        response = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open", text="x" * 4096),
                                        headers=JSON)
        assert response.status_code == 413
        assert await count(hc.hub, Issue) == 0
        [row] = await delivery_rows(hc.hub)
        assert (row["status"], row["reason"], row["body"]) == (413, "request body too large", "")


async def test_a_forged_rejection_does_not_block_the_real_request_id(hub_client):
    async with hub_client(env={"ECHO_TOKEN": "s3cret-token"}) as hc:
        headers = {**JSON, "request-id": "r-1"}
        forged = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                      headers={**headers, "x-echo-token": "wrong"})
        real = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                    headers={**headers, "x-echo-token": "s3cret-token"})
        assert (forged.status_code, real.status_code) == (401, 200)
        assert "issue" in real.json()


async def test_skipped_delivery_is_answered_with_reason_and_logged(hub_client):
    async with hub_client() as hc:
        response = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="dance"), headers=JSON)
        assert response.json() == {"success": True, "skipped": True, "reason": "action=dance is not handled"}
        async with hc.hub.engine.connect() as connection:
            delivery = (await connection.execute(sa.select(Delivery.__table__))).mappings().one()
        assert (delivery["outcome"], delivery["reason"], delivery["event"]) == (
            "skipped", "action=dance is not handled", "action=dance")


async def test_hook_external_update_closes_comments_and_reopens(hub_client):
    async with hub_client() as hc:
        created = (await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=JSON)).json()
        closed = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="close", at="t1"), headers=JSON)
        assert closed.json()["updated"] is True
        assert [c["kind"] for c in closed.json()["changes"]] == ["close", "comment"]
        again = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="close", at="t1"), headers=JSON)
        assert "changes" not in again.json()  # an identical repeat changes nothing
        issue = (await hc.client.get(f"/api/issues/{created['issue']['identifier']}")).json()
        assert issue["status"] == "closed" and issue["closed_at"] is not None
        assert [c["body"] for c in issue["comments"]] == ["Echo closed it"]
        reopened = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open", at="t2"), headers=JSON)
        assert reopened.json()["deduplicated"] is True
        assert [c["kind"] for c in reopened.json()["changes"]] == ["reopen", "comment"]
        issue = (await hc.client.get(f"/api/issues/{created['issue']['identifier']}")).json()
        assert issue["status"] == "open" and issue["closed_at"] is None
        # The duplicate's row, logged with the lookup, was rewritten with what it changed: one
        # row per delivery, saying what the answer said.
        async with hc.hub.engine.connect() as connection:
            rows = (await connection.execute(
                sa.select(Delivery.__table__.c.outcome, Delivery.__table__.c.response, Delivery.__table__.c.changes)
                .order_by(Delivery.__table__.c.created_at)
            )).all()
        assert [row.outcome for row in rows] == ["created", "updated", "deduplicated", "updated"]
        assert rows[-1].response == reopened.json()
        assert [change["kind"] for change in rows[-1].changes] == ["reopen", "comment"]


async def test_update_for_unknown_record_is_skipped(hub_client):
    async with hub_client() as hc:
        response = await hc.client.post("/api/echo/webhook", content=body(id="never", action="close"), headers=JSON)
        assert response.json() == {"success": True, "skipped": True, "reason": "no issue is linked to echo never"}


async def test_replayed_request_id_gets_the_earlier_answer_and_changes_nothing(hub_client):
    async with hub_client() as hc:
        headers = {**JSON, "request-id": "req-1"}
        first = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=headers)
        replay = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=headers)
        assert replay.status_code == 200 and replay.json() == first.json()
        closing = {**JSON, "request-id": "req-2"}
        closed = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="close", at="1"), headers=closing)
        await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open", at="2"), headers={**JSON, "request-id": "req-3"})
        replayed_close = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="close", at="1"),
                                              headers=closing)
        assert replayed_close.json() == closed.json()
        issue = (await hc.client.get("/api/issues/CHIPP-1")).json()
        assert issue["status"] == "open"  # the replayed close was not applied again
        assert await count(hc.hub, Delivery) == 3
        # A new Request-ID is a new delivery.
        other = await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"),
                                     headers={**JSON, "request-id": "req-4"})
        assert other.json()["deduplicated"] is True


async def test_concurrent_replays_of_one_request_id_are_processed_once(hub_client):
    async with hub_client() as hc:
        headers = {**JSON, "request-id": "same-request"}
        responses = await asyncio.gather(*[
            hc.client.post("/api/echo/webhook", content=body(id=f"e{i}", action="open"), headers=headers)
            for i in range(8)
        ])
        assert {r.status_code for r in responses} == {200}
        assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
        assert await count(hc.hub, Issue) == 1
        assert await count(hc.hub, Delivery) == 1


async def test_a_label_deleted_by_hand_is_created_again(hub_client):
    async with hub_client() as hc:
        await hc.client.post("/api/echo/webhook", content=body(id="e1", action="open"), headers=JSON)
        # A label's id is cached once its row is committed (PostgreSQL: in a statement of its
        # own; SQLite: with the first issue's transaction).
        assert "Echo" in hc.hub.store.label_ids
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.delete(Label.__table__))
        response = await hc.client.post("/api/echo/webhook", content=body(id="e2", action="open"), headers=JSON)
        assert response.status_code == 200, response.text
        issue = (await hc.client.get(f"/api/issues/{response.json()['issue']['identifier']}")).json()
        assert issue["labels"] == [{"name": "Echo", "color": "#00AA00"}]


async def test_a_fresh_label_under_concurrency_never_fails_a_delivery(hub_client):
    async with hub_client() as hc:
        responses = await asyncio.gather(*[
            hc.client.post("/api/echo/webhook", content=body(id=f"c{i}", action="open"), headers=JSON)
            for i in range(60)
        ])
        assert [r.status_code for r in responses] == [200] * 60
        assert await count(hc.hub, Issue) == 60


async def test_the_logged_answers_are_the_answers_sent(hub_client):
    # On PostgreSQL the created and deduplicated rows' responses are built in SQL, beside the
    # answers built in Python: a replay sends the logged one, which must be the same JSON.
    async with hub_client() as hc:
        sent = []
        for request_id in ("new", "dup"):
            headers = {**JSON, "request-id": request_id}
            sent.append(await hc.client.post("/api/echo/webhook", content=body(id="e9", action="open"), headers=headers))
        assert "deduplicated" not in sent[0].json() and sent[1].json()["deduplicated"] is True
        for request_id, answer in zip(("new", "dup"), sent):
            headers = {**JSON, "request-id": request_id}
            replay = await hc.client.post("/api/echo/webhook", content=body(id="e9", action="open"), headers=headers)
            assert replay.json() == answer.json()
        async with hc.hub.engine.connect() as connection:
            reasons = (await connection.execute(
                sa.select(Delivery.__table__.c.outcome, Delivery.__table__.c.reason)
                .order_by(Delivery.__table__.c.created_at)
            )).all()
        assert [tuple(row) for row in reasons] == [("created", None),
                                                   ("deduplicated", "Issue already tracked as CHIPP-1")]


class CountBuilds:
    """A plugin that only counts build_issue calls (returns None: the echo plugin still builds)."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def build_issue(self, source, payload):
        self.calls += 1


async def test_a_record_seen_linked_is_deduplicated_without_building_a_draft(hub_client):
    counter = CountBuilds()
    pm = build_plugin_manager()
    pm.register(counter)
    async with hub_client(pm=pm) as hc:
        first = await hc.client.post("/api/echo/webhook", content=body(id="e5", action="open"), headers=JSON)
        for _ in range(3):
            again = await hc.client.post("/api/echo/webhook", content=body(id="e5", action="open"), headers=JSON)
            assert again.json()["deduplicated"] is True
            assert again.json()["issue"] == first.json()["issue"]
        assert counter.calls == 1  # only the delivery that created the issue needed a draft
        # The hint is only a hint: with the issue deleted by hand, the record is new again.
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.delete(Issue.__table__))
        recreated = await hc.client.post("/api/echo/webhook", content=body(id="e5", action="open"), headers=JSON)
        assert recreated.status_code == 200 and "deduplicated" not in recreated.json()
        assert recreated.json()["issue"]["identifier"] != first.json()["issue"]["identifier"]
        assert counter.calls == 2
        assert await count(hc.hub, Delivery) == 5


async def test_the_delivery_log_keeps_only_allowed_headers_each_capped(hub_client):
    # Sentry signs only the body: whatever headers come with a signed delivery are the sender's
    # (or an attacker's) choice. A 200 KB header must not reach the delivery log.
    async with hub_client() as hc:
        headers = {**JSON, "request-id": "h1", "user-agent": "u" * 5000, "x-junk": "j" * 200_000,
                   "x-signature": "s3cret", "cookie": "c=1"}
        response = await hc.client.post("/api/echo/webhook", content=body(id="h1", action="open"), headers=headers)
        assert response.status_code == 200, response.text
        async with hc.hub.engine.connect() as connection:
            stored = (await connection.execute(sa.select(Delivery.__table__.c.headers))).scalar_one()
        assert set(stored) <= {"content-type", "content-length", "user-agent", "request-id"}
        assert stored["request-id"] == "h1" and len(stored["user-agent"]) <= 256
        assert len(json.dumps(stored)) < 4096


async def test_a_lone_surrogate_a_plugin_puts_in_its_answer_is_never_a_500(hub_client):
    # The echo plugin answers with the record id it was sent; JSON can carry a lone surrogate
    # escape, which no encoder of the answer takes.
    async with hub_client() as hc:
        for action in ("open", "open", "close"):
            response = await hc.client.post("/api/echo/webhook", content=b'{"id": "x\\ud800y", "action": "%s"}'
                                            % action.encode(), headers=JSON)
            assert response.status_code == 200, response.text
            if action == "open":
                assert response.json()["echo"] == {"id": "x\ufffdy"}
