"""The webhook fast lane (hub.fastlane) answers exactly as the Litestar route does, and keeps its limits."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from hub.fastlane import LaneApp

from support import SENTRY_SECRET, sentry_headers, sentry_issue_body

ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET}
PATH = "/api/sentry/webhook"


async def asgi_post(app: Any, headers: dict[str, str], chunks: list[bytes], *, through_litestar: bool = False,
                    disconnect_after: int | None = None, path: str = PATH) -> tuple[int | None, Any]:
    """POST ``chunks`` to ``app`` over raw ASGI; the status and JSON answer (None, None: nothing sent).

    ``through_litestar`` calls Litestar's own ``__call__``, as if the lane were not there.
    """
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)]
    if disconnect_after is not None:
        messages = messages[:disconnect_after] + [{"type": "http.disconnect"}]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await (Litestar.__call__(app, scope, receive, send) if through_litestar else app(scope, receive, send))
    if not sent:
        return None, None
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


async def _deliveries(hc: Any) -> int:
    async with hc.hub.engine.connect() as connection:
        return (await connection.execute(sa.text("SELECT count(*) FROM hub_delivery"))).scalar_one()


# What a sender may do to a request: each is answered the same by both ways in.
CASES = ["created", "bad signature", "not json", "text/plain", "too large", "no type", "unknown action"]


def _request(case: str, issue_id: str) -> tuple[dict[str, str], bytes]:
    body = sentry_issue_body(issue_id, action="archived" if case == "unknown action" else "created")
    if case == "not json":
        body = b"{not json"
    headers = {**sentry_headers(body), "content-type": "application/json", "request-id": f"req-{issue_id}"}
    if case == "bad signature":
        headers["sentry-hook-signature"] = "0" * 64
    elif case == "text/plain":
        headers["content-type"] = "text/plain"
    elif case == "too large":
        body = b" " * (1024 * 1024 + 1)
    elif case == "no type":
        del headers["content-type"]
    return headers, body


def _without_ids(answer: Any, record: str) -> Any:
    """An answer with what differs between two Sentry issues left out: the hub's ids, numbers and
    links, and the record's own id wherever a text quotes it."""
    if isinstance(answer, dict):
        return {key: _without_ids(value, record) for key, value in answer.items()
                if key not in ("id", "identifier", "number", "url", "title", "external_id", "shortId")}
    if isinstance(answer, list):
        return [_without_ids(value, record) for value in answer]
    return answer.replace(record, "RECORD") if isinstance(answer, str) else answer


async def test_the_lane_and_the_route_answer_alike(hub_client, monkeypatch):
    taken: list[str] = []
    deliver = LaneApp._deliver

    async def counted(self, hub, source, scope, receive, send):
        taken.append(scope["path"])
        await deliver(self, hub, source, scope, receive, send)

    monkeypatch.setattr(LaneApp, "_deliver", counted)
    async with hub_client(env=ENV) as hc:
        assert isinstance(hc.app, LaneApp)
        for case in CASES:
            lane_headers, lane_body = _request(case, f"lane-{case}")
            route_headers, route_body = _request(case, f"route-{case}")
            lane = await asgi_post(hc.app, lane_headers, [lane_body])
            assert taken == [PATH], "the delivery did not take the lane"
            route = await asgi_post(hc.app, route_headers, [route_body], through_litestar=True)
            assert taken == [PATH], "the route's delivery went through the lane"
            taken.clear()
            assert lane[0] == route[0], (case, lane, route)
            # The same answer but for what names the record (two Sentry issues, two hub issues).
            assert _without_ids(lane[1], f"lane-{case}") == _without_ids(route[1], f"route-{case}"), (case, lane, route)
            if case == "created":
                assert lane[1]["issue"]["identifier"] != route[1]["issue"]["identifier"]
                again = await asgi_post(hc.app, lane_headers, [lane_body])
                taken.clear()
                assert again == lane, "a replayed delivery is answered with its first outcome"


async def test_a_body_in_chunks_is_read_whole_and_past_the_limit_refused(hub_client):
    async with hub_client(env=ENV) as hc:
        body = sentry_issue_body("chunked")
        headers = {**sentry_headers(body), "content-type": "application/json"}
        pieces = [body[i:i + 100] for i in range(0, len(body), 100)]
        status, answer = await asgi_post(hc.app, headers, pieces)
        assert status == 200 and answer["issue"]["identifier"], answer
        # No Content-Length, 1 MiB + 1 byte in chunks: refused when the limit is passed.
        big = [b" " * 65536] * 16 + [b" "]
        status, answer = await asgi_post(hc.app, {"content-type": "application/json"}, big)
        assert status == 413 and answer["error"] == "request body too large", answer
        # A Content-Length past the limit is refused before any body is read.
        status, _ = await asgi_post(hc.app, {"content-type": "application/json", "content-length": str(10**9)}, [b"{}"])
        assert status == 413


async def test_a_sender_gone_before_its_body_is_in_leaves_nothing(hub_client):
    async with hub_client(env=ENV) as hc:
        body = sentry_issue_body("gone")
        headers = {**sentry_headers(body), "content-type": "application/json"}
        before = await _deliveries(hc)
        status, answer = await asgi_post(hc.app, headers, [body[:50], body[50:]], disconnect_after=1)
        assert (status, answer) == (None, None)
        assert await _deliveries(hc) == before


async def test_other_methods_and_paths_still_go_to_litestar(hub_client):
    async with hub_client(env=ENV) as hc:
        health = await hc.client.get(PATH)
        assert health.status_code == 200 and health.json()["endpoint"] == PATH
        body = sentry_issue_body("slash")
        status, _ = await asgi_post(hc.app, {**sentry_headers(body), "content-type": "application/json"}, [body],
                                    path=PATH + "/extra")
        assert status == 404
