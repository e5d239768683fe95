"""Scopes allowed and refused, bad tokens, revocation, and who did what on the timeline; both databases."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.auth.tokens import create_token, revoke_token

pytestmark = pytest.mark.usefixtures("echo_installed")

JSON = {"content-type": "application/json"}


async def deliver(hc, **payload) -> dict:
    response = await hc.client.post("/api/echo/webhook", content=json.dumps(payload).encode(), headers=JSON)
    assert response.status_code == 200, response.text
    return response.json()["issue"]


async def bearer(hc, name: str, scope: str) -> dict[str, str]:
    return {"authorization": f"Bearer {await create_token(hc.hub.engine, name, scope)}"}


def calls(identifier: str) -> dict[str, list[tuple[str, str, dict | None]]]:
    """Requests by the scope they need."""
    return {
        "read": [("GET", "/api/issues", None), ("GET", f"/api/issues/{identifier}", None),
                 ("GET", "/schema/openapi.json", None)],
        "write": [("PATCH", f"/api/issues/{identifier}", {"priority": "P1"}),
                  ("POST", f"/api/issues/{identifier}/comments", {"body": "looking"})],
        "admin": [("GET", "/api/tokens", None), ("POST", "/api/jobs/no-such-job/retry", None)],
    }


async def send(hc, method: str, path: str, body: dict | None, headers: dict[str, str]):
    content = json.dumps(body).encode() if body is not None else None
    return await hc.client.request(method, path, content=content, headers={**JSON, **headers})


async def test_each_scope_is_allowed_what_it_covers_and_refused_the_rest(hub_client):
    async with hub_client(token_scope=None) as hc:
        identifier = (await deliver(hc, id="s1", action="open"))["identifier"]
        tokens = {scope: await bearer(hc, f"t-{scope}", scope) for scope in ("read", "write", "admin")}
        for granted, headers in [("none", {}), *tokens.items()]:
            rank = ["none", "read", "write", "admin"].index(granted)
            for needed, requests in calls(identifier).items():
                for method, path, body in requests:
                    response = await send(hc, method, path, body, headers)
                    allowed = rank >= ["none", "read", "write", "admin"].index(needed)
                    where = f"{granted} token, {method} {path}"
                    if allowed:
                        # The retry of an unknown job is a 404: it got past the guard.
                        assert response.status_code in (200, 201, 404), (where, response.text)
                        assert response.status_code != 404 or path.endswith("/retry"), where
                    else:
                        # Anonymous writes meet the CSRF check first (403), reads the guard (401).
                        expected = (401,) if granted == "none" and method == "GET" else (403,)
                        expected += (401,) if granted == "none" else ()
                        assert response.status_code in expected, (where, response.text)
                        assert response.headers["content-type"].startswith("application/json"), where


async def test_public_routes_need_nothing_and_health_tells_only_the_status(hub_client):
    async with hub_client(token_scope=None) as hc:
        assert (await hc.client.get("/api/echo/webhook")).status_code == 200
        health = await hc.client.get("/api/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        detail = await hc.client.get("/api/health", headers=await bearer(hc, "ops", "read"))
        assert detail.json()["dialect"] in ("sqlite", "postgresql")
        assert (await hc.client.get("/login")).status_code == 200


async def test_revoked_token_is_refused_at_once(hub_client):
    async with hub_client(token_scope=None) as hc:
        headers = await bearer(hc, "soon-gone", "read")
        assert (await hc.client.get("/api/issues", headers=headers)).status_code == 200
        assert await revoke_token(hc.hub.engine, "soon-gone")
        response = await hc.client.get("/api/issues", headers=headers)
        assert response.status_code == 401 and response.json()["detail"]


async def test_last_use_is_recorded(hub_client):
    async with hub_client(token_scope=None) as hc:
        headers = await bearer(hc, "used", "admin")
        listed = (await hc.client.get("/api/tokens", headers=headers)).json()["items"]
        assert [(t["name"], t["scope"]) for t in listed] == [("used", "admin")]
        assert listed[0]["last_used_at"] is not None
        assert "digest" not in listed[0]


async def test_unknown_and_wrong_tokens_take_the_same_path(hub_client):
    # One query by digest for both, then a constant-time compare: the answers are identical too.
    async with hub_client(token_scope=None) as hc:
        real = (await bearer(hc, "real", "read"))["authorization"]
        wrong = real[:-1] + ("A" if real[-1] != "A" else "B")
        unknown = "Bearer hub_" + "x" * 43
        answers = [await hc.client.get("/api/issues", headers={"authorization": value}) for value in (wrong, unknown)]
        assert [a.status_code for a in answers] == [401, 401]
        assert answers[0].json() == answers[1].json()


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=120)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(HEADER_TEXT, HEADER_TEXT.map(lambda s: "Bearer " + s), HEADER_TEXT.map(lambda s: "bearer hub_" + s),
                       st.just("Bearer"), st.just("Bearer hub_" + "\u00e9" * 43)))
async def test_malformed_authorization_headers_get_401_json_never_500(hub_client, value):
    async with hub_client(token_scope=None) as hc:
        response = await hc.client.get("/api/issues", headers={"authorization": value.encode()})
    assert response.status_code == 401, (value, response.text)
    assert response.json()["status_code"] == 401


async def test_changes_through_the_api_and_the_source_share_the_timeline_with_their_actors(hub_client):
    async with hub_client(token_scope=None) as hc:
        identifier = (await deliver(hc, id="t1", action="open"))["identifier"]
        headers = {**JSON, **await bearer(hc, "triager", "write")}
        patched = await hc.client.patch(f"/api/issues/{identifier}", content=json.dumps(
            {"status": "closed", "priority": "P1", "assignee": "alice"}), headers=headers)
        assert patched.status_code == 200, patched.text
        assert (patched.json()["status"], patched.json()["priority"], patched.json()["assignee"]) == ("closed", "P1", "alice")
        commented = await hc.client.post(f"/api/issues/{identifier}/comments", content=b'{"body": "on it"}', headers=headers)
        assert commented.status_code == 201
        assert commented.json()["comments"][-1]["author"] == "token:triager"
        # The source reopens it (echo "open" again does nothing), then closes it: an echo event.
        await hc.client.patch(f"/api/issues/{identifier}", content=b'{"status": "open"}', headers=headers)
        await deliver(hc, id="t1", action="close", at="x")
        issue = (await hc.client.get(f"/api/issues/{identifier}", headers=headers)).json()
    events = [(e["actor"], e["kind"], e["value"]) for e in issue["events"]]
    assert events[:4] == [("token:triager", "close", None), ("token:triager", "priority", "P1"),
                          ("token:triager", "assign", "alice"), ("token:triager", "comment", None)]
    assert ("token:triager", "reopen", None) in events and ("echo", "close", None) in events
    assert issue["events"][3]["text"] == "on it"


async def test_a_change_that_changes_nothing_leaves_no_event(hub_client):
    async with hub_client(token_scope=None) as hc:
        identifier = (await deliver(hc, id="n1", action="open"))["identifier"]
        headers = {**JSON, **await bearer(hc, "w", "write")}
        response = await hc.client.patch(f"/api/issues/{identifier}", content=b'{"status": "open"}', headers=headers)
        assert response.json()["changed"] == [] and response.json()["events"] == []


@pytest.mark.parametrize("body, reason", [
    ({}, "JSON object"), ({"status": "gone"}, "status"), ({"priority": "P9"}, "priority"),
    ({"assignee": "a\x00b"}, "assignee"), ({"title": "x"}, "unknown field"), ([1], "JSON object"),
])
async def test_bad_triage_input_is_400_with_a_reason(hub_client, body, reason):
    async with hub_client(token_scope="write") as hc:
        identifier = (await deliver(hc, id="b1", action="open"))["identifier"]
        response = await hc.client.patch(f"/api/issues/{identifier}", content=json.dumps(body).encode(), headers=JSON)
        assert response.status_code == 400 and reason in response.json()["detail"], response.text
        missing = await hc.client.patch("/api/issues/CHIPP-999", content=b'{"status": "closed"}', headers=JSON)
        assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/api/issues?label=%00", "/api/issues?source=%00x", "/api/issues/X-%00",
                                  "/api/issues?page=9223372036854775807", "/api/issues?per_page=201",
                                  "/api/issues?label=" + "x" * 201, "/api/issues/CHIPP-99999999999999999999"])
async def test_hostile_query_parameters_are_400_with_one_line(hub_client, path):
    async with hub_client() as hc:
        response = await hc.client.get(path)
    assert response.status_code == 400, response.text
    assert "\n" not in response.json()["detail"]


async def test_an_unexpected_error_is_logged_with_its_traceback_and_answered_json(hub_client, monkeypatch, caplog):
    from hub.routes import issues

    async def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(issues, "_related", broken)
    async with hub_client() as hc:
        await deliver(hc, id="x1", action="open")
        response = await hc.client.get("/api/issues?label=Echo")
    assert response.status_code == 500 and response.json()["detail"] == "internal error"
    record = next(r for r in caplog.records if "Internal error on GET /api/issues" in r.getMessage())
    assert record.exc_info and "boom" in str(record.exc_info[1])
    assert "label=" not in record.getMessage()


async def test_a_retried_failed_job_is_queued_again(hub_client):
    async with hub_client(token_scope="admin") as hc:
        issue = await deliver(hc, id="j1", action="open")
        async with hc.hub.engine.begin() as connection:
            job_id = (await connection.execute(sa.text("SELECT id FROM hub_job"))).scalar_one()
            await connection.execute(sa.text("UPDATE hub_job SET status = 'failed', attempts = 6"))
        assert (await hc.client.post(f"/api/jobs/{job_id}/retry")).json() == {"id": job_id, "status": "queued"}
        again = await hc.client.post(f"/api/jobs/{job_id}/retry")
        assert again.status_code == 409
        detail = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert [(j["status"], j["attempts"]) for j in detail["jobs"]] == [("queued", 0)]


async def test_unknown_and_wrong_credentials_do_the_same_work(database_url, monkeypatch):
    # No clock in a test can prove "no timing difference"; the work done can: one query and one
    # constant-time compare for any well-formed token, one argon2 verify for any account name.
    from sqlalchemy import event

    from hub import db
    from hub.auth import digests, passwords
    from hub.auth.accounts import add_user, authenticate_user
    from hub.auth.tokens import authenticate_token
    from hub.config import DatabaseSettings

    engine = db.create_engine(DatabaseSettings(url=database_url))
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    compares, verifies = [], []
    real_compare, hasher = digests.same_digest, passwords._HASHER

    class CountingHasher:
        def hash(self, password):
            return hasher.hash(password)

        def verify(self, stored, password):
            verifies.append(stored)
            return hasher.verify(stored, password)

    monkeypatch.setattr("hub.auth.tokens.same_digest", lambda *a: compares.append(a) or real_compare(*a))
    monkeypatch.setattr(passwords, "_HASHER", CountingHasher())
    try:
        real = await create_token(engine, "real", "read")
        await add_user(engine, "alice", "the right password")
        work = []
        for candidate in (real[:-1] + ("A" if real[-1] != "A" else "B"), "hub_" + "x" * 43):
            statements.clear(), compares.clear()
            assert await authenticate_token(engine, candidate) is None
            work.append((len([s for s in statements if s.lstrip().upper().startswith("SELECT")]), len(compares)))
        for name in ("alice", "mallory"):
            verifies.clear()
            assert await authenticate_user(engine, name, "a wrong password") is None
            work.append(len(verifies))
    finally:
        await engine.dispose()
    assert work == [(1, 1), (1, 1), 1, 1]
