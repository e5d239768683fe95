"""stack_files and first_seen: frames from the delivery and from Sentry's API, in the right order."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import httpx
import pytest

from hub import LinkView
from hub_sentry import plugin
from hub_sentry.stack import MAX_FILES, order_paths

from sentry_fixtures import FIXTURES, load

TOKEN = "sntrys_token_for_tests_only"
LINK = LinkView(source="sentry", external_id="1170820242", external_url=None, metadata={})


def api(handler):
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def files(settings, payload, http=None, **sentry):
    config = settings(sentry=sentry or None, env={"SENTRY_AUTH_TOKEN": TOKEN} if sentry else {})
    async with http or api(lambda request: httpx.Response(500)) as client:
        return await plugin.stack_files(link=LINK, payload=payload, config=config, http=client)


async def test_hook_stack_files_from_an_error_delivery(settings):
    # error-created.json: one frame, not in-app, filename "/runner".
    assert await files(settings, load("error-created.json")) == ["/runner"]


async def test_hook_stack_files_from_an_issue_delivery_metadata(settings):
    assert await files(settings, load("issue-created.json")) == ["/frontend/src/util.ts"]


async def test_hook_stack_files_from_the_api_latest_event(settings):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=(FIXTURES / "api-issue-latest-event.json").read_bytes())

    event = json.loads((FIXTURES / "api-issue-latest-event.json").read_text())
    frames = [f for e in event["entries"] if e["type"] == "exception" for v in e["data"]["values"]
              for f in v["stacktrace"]["frames"]]
    paths = await files(settings, load("issue-created-escalating.json"), http=api(handler),
                        organization="sentry-org", api_url="https://sentry.example")
    assert [str(r.url) for r in seen] == [
        "https://sentry.example/api/0/organizations/sentry-org/issues/1170820242/events/latest/"]
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    in_app = [f["filename"] for f in reversed(frames) if f["inApp"]]
    others = [f["filename"] for f in reversed(frames) if not f["inApp"]]
    expected = []
    for path in [*in_app, "/runner", *others]:
        if path not in expected:
            expected.append(path)
    assert paths == expected
    assert paths[-1] == frames[0]["filename"]  # the outermost frame comes last


@pytest.mark.parametrize("answer", [httpx.Response(403, json={"detail": "nope"}), httpx.Response(200, text="<html>")])
async def test_api_failure_keeps_the_payload_files(settings, answer, caplog):
    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        paths = await files(settings, load("issue-created-escalating.json"), http=api(lambda request: answer),
                            organization="sentry-org")
    assert paths == ["/runner"]
    assert "Latest event of issue 1170820242 not fetched" in caplog.text or "not JSON" in caplog.text
    assert TOKEN not in caplog.text


async def test_an_odd_api_answer_keeps_the_payload_files(settings):
    odd = api(lambda request: httpx.Response(200, json={"entries": 7}))
    assert await files(settings, load("issue-created-escalating.json"), http=odd, organization="o") == ["/runner"]


async def test_the_issue_id_cannot_steer_the_api_call(settings):
    seen = []
    link = LinkView(source="sentry", external_id="1/../../projects/?x=", external_url=None, metadata={})
    config = settings(sentry={"organization": "o"}, env={"SENTRY_AUTH_TOKEN": TOKEN})
    async with api(lambda request: seen.append(request) or httpx.Response(404)) as client:
        await plugin.stack_files(link=link, payload=None, config=config, http=client)
    assert seen[0].url.raw_path == b"/api/0/organizations/o/issues/1%2F..%2F..%2Fprojects%2F%3Fx%3D/events/latest/"


async def test_network_failure_keeps_the_payload_files(settings, caplog):
    def broken(request):
        raise httpx.ConnectError("down")

    paths = await files(settings, load("issue-created-escalating.json"), http=api(broken), organization="o")
    assert paths == ["/runner"]


async def test_no_api_call_without_token_and_organisation(settings):
    calls = []
    http = api(lambda request: calls.append(request) or httpx.Response(200))
    await files(settings, load("issue-created-escalating.json"), http=http)
    assert calls == []


def test_order_in_app_first_nearest_the_crash_first_unique_and_capped():
    frames = [("lib/outer.js", False), ("app/a.js", True), ("app/b.js", True), ("lib/inner.js", False),
              ("app/a.js", True)]
    assert order_paths(frames, ["meta.js"]) == ["app/a.js", "app/b.js", "meta.js", "lib/inner.js", "lib/outer.js"]
    many = [(f"f{n}.py", True) for n in range(40)]
    assert len(order_paths(many)) == MAX_FILES
    assert order_paths(many)[0] == "f39.py"


async def test_hook_stack_files_ignores_other_links_and_garbage(settings):
    other = LinkView(source="echo", external_id="1", external_url=None, metadata={})
    async with api(lambda r: httpx.Response(500)) as client:
        assert await plugin.stack_files(link=other, payload={}, config=settings(), http=client) is None
    garbage_frames = {"values": [{"stacktrace": {"frames": [1, None, {}]}}]}
    assert await files(settings, {"data": {"error": {"exception": garbage_frames}}}) == []
    assert await files(settings, None) == []


def test_hook_first_seen_reads_the_delivery():
    seen = plugin.first_seen(link=LINK, payload=load("issue-created-escalating.json"))
    assert seen == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=timezone.utc)
    assert plugin.first_seen(link=LINK, payload={"data": {"issue": {"firstSeen": 5}}}) is None
    other = LinkView(source="echo", external_id="1", external_url=None, metadata={})
    assert plugin.first_seen(link=other, payload=load("issue-created-escalating.json")) is None
