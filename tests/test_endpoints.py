"""Plugin endpoints (``register_endpoints``): mounted, bounded, guarded, and never a leaked error."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest

from hub import Endpoint, EndpointError, EndpointResponse, ExternalLinkDraft, IssueDraft, hookimpl
from hub.endpoints import registered_endpoints
from hub.plugins import build_plugin_manager

SECRET = b"endpoint-secret"


async def _signed(request, context):
    given_signature = request.headers.get("x-demo-signature", "")
    expected = hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given_signature, expected):
        raise EndpointError(401, "invalid signature")
    payload = request.json()
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), int):
        raise EndpointError(400, "n must be a number")
    return EndpointResponse.json({"double": payload["n"] * 2, "query": dict(request.query)})


def _boom(request, context):
    raise RuntimeError("secret-detail-that-must-not-leak")


async def _slow(request, context):
    await asyncio.sleep(5)
    return EndpointResponse.json({})


def _redirect(request, context):
    return EndpointResponse.redirect(request.query.get("to", "https://example.com/"))


async def _search(request, context):
    found = await context.search_issues(request.query.get("q"))
    return EndpointResponse.json([issue.identifier for issue in found])


async def _create(request, context):
    payload = request.json()
    draft = IssueDraft(title=payload["title"], description="", link=ExternalLinkDraft(external_id=payload["id"]))
    filed = await context.create_issue("echo", draft, request, payload=payload, summary="demo create",
                                       answer=lambda issue: {"identifier": issue.identifier})
    return EndpointResponse.json({**filed.body, "outcome": filed.outcome})


class DemoEndpoints:
    @hookimpl
    def register_endpoints(self, config):
        return [
            Endpoint("demo", "signed", _signed, methods=("POST",)),
            Endpoint("demo", "boom", _boom, methods=("GET",)),
            Endpoint("demo", "slow", _slow, methods=("GET",), timeout_seconds=0.2),
            Endpoint("demo", "go", _redirect, methods=("GET",)),
            Endpoint("demo", "search", _search, methods=("GET",), scope="read"),
            Endpoint("echo", "create", _create, methods=("POST",), scope="write"),
        ]


def _pm():
    return build_plugin_manager(extra=[DemoEndpoints()])


def _sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


async def test_hook_register_endpoints_serves_a_signed_endpoint_without_a_token(sqlite_hub_client):
    async with sqlite_hub_client(pm=_pm(), token_scope=None) as hc:
        body = b'{"n": 21}'
        ok = await hc.client.post("/api/demo/signed?x=1&x=2", content=body, headers={"x-demo-signature": _sign(body)})
        forged = await hc.client.post("/api/demo/signed", content=body, headers={"x-demo-signature": "0" * 64})
        bad = await hc.client.post("/api/demo/signed", content=b"[1,", headers={"x-demo-signature": _sign(b"[1,")})
    assert ok.status_code == 200 and ok.json() == {"double": 42, "query": {"x": "1"}}
    assert forged.status_code == 401 and forged.json() == {"message": "invalid signature"}
    assert bad.status_code == 400 and bad.json()["message"].startswith("invalid JSON")


async def test_errors_are_json_and_leak_nothing(sqlite_hub_client, caplog):
    async with sqlite_hub_client(pm=_pm(), token_scope=None) as hc:
        boom = await hc.client.get("/api/demo/boom")
        slow = await hc.client.get("/api/demo/slow")
        large = await hc.client.post("/api/demo/signed", content=b"x" * (hc.hub.settings.hub.max_body_bytes + 1))
    assert boom.status_code == 500 and boom.json() == {"message": "internal error"}
    assert "secret-detail" not in boom.text
    assert "secret-detail-that-must-not-leak" in caplog.text  # the operator still sees it
    assert slow.status_code == 503 and "no answer within 0.2 seconds" in slow.json()["message"]
    assert large.status_code == 413 and large.json() == {"message": "request body too large"}


async def test_redirects_go_only_to_web_urls(sqlite_hub_client):
    async with sqlite_hub_client(pm=_pm(), token_scope=None) as hc:
        good = await hc.client.get("/api/demo/go", params={"to": "https://github.com/o/r/blob/HEAD/a.py#L3"},
                                   follow_redirects=False)
        script = await hc.client.get("/api/demo/go", params={"to": "javascript:alert(1)"}, follow_redirects=False)
        split = await hc.client.get("/api/demo/go", params={"to": "https://a.example/\r\nSet-Cookie: x=1"},
                                    follow_redirects=False)
    assert good.status_code == 302 and good.headers["location"] == "https://github.com/o/r/blob/HEAD/a.py#L3"
    assert script.status_code == 500 and "location" not in script.headers
    assert split.status_code == 500 and "set-cookie" not in split.headers


async def test_a_scoped_endpoint_needs_the_scope(sqlite_hub_client):
    async with sqlite_hub_client(pm=_pm(), token_scope=None) as anonymous:
        refused = await anonymous.client.get("/api/demo/search")
        assert refused.status_code == 401
    async with sqlite_hub_client(pm=_pm(), token_scope="read") as reader:
        assert (await reader.client.get("/api/demo/search")).json() == []
        writes = await reader.client.post("/api/echo/create", json={"title": "t", "id": "1"})
        assert writes.status_code == 403


async def test_create_issue_goes_through_the_webhook_store(hub_client, echo_installed):
    async with hub_client(pm=build_plugin_manager(extra=[DemoEndpoints()]), token_scope="write") as hc:
        first = await hc.client.post("/api/echo/create", json={"title": "Disk full", "id": "r-1"})
        again = await hc.client.post("/api/echo/create", json={"title": "Disk full", "id": "r-1"})
        found = await hc.client.get("/api/demo/search", params={"q": "disk"})
        issues = (await hc.client.get("/api/issues")).json()
    assert first.json()["outcome"] == "created"
    assert again.json() == {"identifier": first.json()["identifier"], "outcome": "deduplicated"}
    assert found.json() == [first.json()["identifier"]]
    assert [issue["identifier"] for issue in issues["items"]] == [first.json()["identifier"]]


def test_malformed_or_clashing_endpoints_stop_the_start():
    class Clash:
        @hookimpl
        def register_endpoints(self):
            return [Endpoint("demo", "signed", _signed)]

    class Reserved:
        @hookimpl
        def register_endpoints(self):
            return [Endpoint("issues", "x", _signed)]

    class Webhook:
        @hookimpl
        def register_endpoints(self):
            return [Endpoint("demo", "webhook", _signed)]

    with pytest.raises(ValueError, match="two plugins register POST /api/demo/signed"):
        registered_endpoints(build_plugin_manager(extra=[DemoEndpoints(), Clash()]), None)
    with pytest.raises(ValueError, match="namespace 'issues'"):
        registered_endpoints(build_plugin_manager(extra=[Reserved()]), None)
    with pytest.raises(ValueError, match="'webhook' is not allowed"):
        registered_endpoints(build_plugin_manager(extra=[Webhook()]), None)
