"""stack_files and first_seen: frames from the delivery and from Sentry's API, in the right order."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import httpx
import pytest

from hub import LinkView, RetryLater
from hub_sentry import plugin
from hub_sentry.stack import MAX_FILES, order_paths

from sentry_api_fake import ORG, TOKEN, FakeSentry
from sentry_fixtures import load

LINK = LinkView(source="sentry", external_id="1170820242", external_url=None, metadata={})
ENV = {"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}


def api(handler):
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def files(settings, payload, http=None, *, env=ENV, link=LINK):
    config = settings(env=env)
    async with http or api(lambda request: httpx.Response(500)) as client:
        return await plugin.stack_files(link=link, payload=payload, config=config, http=client)


def recorded(fake: FakeSentry):
    """A client on the fake Sentry that also keeps the raw requests."""
    seen: list[httpx.Request] = []
    client = api(lambda request: seen.append(request) or fake.handle(request))
    client.seen = seen
    return client


async def test_hook_stack_files_from_an_error_delivery(settings):
    # error-created.json: one frame, not in-app, filename "/runner".
    assert await files(settings, load("error-created.json"), env={}) == ["/runner"]


async def test_hook_stack_files_from_an_issue_delivery_metadata(settings):
    assert await files(settings, load("issue-created.json"), env={}) == ["/frontend/src/util.ts"]


async def test_hook_stack_files_from_the_api_latest_event(settings):
    fake = FakeSentry()
    event = fake.add_event(LINK.external_id)
    frames = [f for e in event["entries"] if e["type"] == "exception" for v in e["data"]["values"]
              for f in v["stacktrace"]["frames"]]
    client = recorded(fake)
    paths = await files(settings, load("issue-created-escalating.json"), http=client)
    assert [str(r.url) for r in client.seen] == [
        f"https://sentry.io/api/0/organizations/{ORG}/issues/1170820242/events/latest/"]
    assert client.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    in_app = [f["filename"] for f in reversed(frames) if f["inApp"]]
    others = [f["filename"] for f in reversed(frames) if not f["inApp"]]
    expected = []
    for path in [*in_app, "/runner", *others]:
        if path not in expected:
            expected.append(path)
    assert paths == expected
    assert paths[-1] == frames[0]["filename"]  # the outermost frame comes last


@pytest.mark.parametrize("status, body, headers, said", [
    (401, None, None, "Sentry refused the token (HTTP 401 (Invalid token))"),
    (403, None, None, "not allowed to (HTTP 403 (You do not have permission to perform this action.)); "
                      "the integration needs the permission that grants event:read"),
    (404, None, None, "not found in Sentry (HTTP 404 (The requested resource does not exist))"),
    (502, b"<html>Bad gateway</html>", {"content-type": "text/html"}, "Sentry answered HTTP 502"),
    (200, b"<html>Sign in</html>", {"content-type": "text/html"}, "HTTP 200 with text/html, not JSON"),
])
async def test_api_failure_keeps_the_payload_files(settings, caplog, status, body, headers, said):
    fake = FakeSentry()
    fake.add_event(LINK.external_id)
    fake.fail_next(status, "/events/latest/", body=body, headers=headers)
    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        paths = await files(settings, load("issue-created-escalating.json"), http=recorded(fake))
    assert paths == ["/runner"]
    assert "[Sentry] Latest event of issue 1170820242 not fetched: cannot read the latest event" in caplog.text
    assert said in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("headers, after", [
    ({"retry-after": "37", "x-sentry-rate-limit-limit": "40", "x-sentry-rate-limit-remaining": "0"}, 37.0),
    # Sentry's own middleware sends no Retry-After: the window's reset (epoch seconds) says when.
    ({"x-sentry-rate-limit-limit": "40", "x-sentry-rate-limit-remaining": "0",
      "x-sentry-rate-limit-reset": "{reset}"}, 20.0),
    # Retry-After 0, or a reset already past on this clock: still one second, never a tight loop.
    ({"retry-after": "0"}, 1.0),
    ({"x-sentry-rate-limit-limit": "40", "x-sentry-rate-limit-remaining": "0", "x-sentry-rate-limit-reset": "{past}"},
     1.0),
])
async def test_a_rate_limit_retries_the_enrichment_when_sentry_says(settings, caplog, headers, after):
    fake = FakeSentry()
    fake.add_event(LINK.external_id)
    reset = time.time() + 20
    fake.fail_next(429, "/events/latest/", headers={key: value.format(reset=reset, past=time.time() - 5)
                                                    for key, value in headers.items()})
    client = recorded(fake)
    with caplog.at_level(logging.WARNING, logger="hub"), pytest.raises(RetryLater) as raised:
        await files(settings, load("issue-created-escalating.json"), http=client)
    assert len(client.seen) == 1  # asked once: the worker never sleeps on Sentry's rate limit
    assert raised.value.after_seconds == pytest.approx(after, abs=1.0)
    assert raised.value.after_seconds >= 1.0  # at least a second, whatever Sentry said
    assert raised.value.reason.startswith("cannot read the latest event of issue 1170820242: Sentry's rate limit "
                                          "(HTTP 429: You are attempting to use this endpoint too frequently.")
    assert TOKEN not in raised.value.reason and TOKEN not in caplog.text
    # When Sentry allows it again, the retried job gets the frames.
    paths = await files(settings, load("issue-created-escalating.json"), http=recorded(fake))
    assert len(paths) > 1 and "/runner" in paths


async def test_an_odd_api_answer_keeps_the_payload_files(settings):
    fake = FakeSentry()
    fake.add_event(LINK.external_id)["entries"] = 7
    assert await files(settings, load("issue-created-escalating.json"), http=recorded(fake)) == ["/runner"]
    fake.add_event(LINK.external_id)["entries"] = [{"type": "exception", "data": {"values": "no"}}, None, 3]
    assert await files(settings, load("issue-created-escalating.json"), http=recorded(fake)) == ["/runner"]


async def test_the_issue_id_cannot_steer_the_api_call(settings):
    link = LinkView(source="sentry", external_id="1/../../projects/?x=", external_url=None, metadata={})
    client = recorded(FakeSentry())
    assert await files(settings, None, http=client, link=link) == []
    quoted = "1%2F..%2F..%2Fprojects%2F%3Fx%3D"
    assert client.seen[0].url.raw_path == f"/api/0/organizations/{ORG}/issues/{quoted}/events/latest/".encode()


async def test_network_failure_keeps_the_payload_files(settings, caplog):
    def broken(request):
        raise httpx.ConnectError("down")

    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        paths = await files(settings, load("issue-created-escalating.json"), http=api(broken))
    assert paths == ["/runner"]
    assert "did not answer (ConnectError)" in caplog.text


@pytest.mark.parametrize("env", [{}, {"SENTRY_AUTH_TOKEN": TOKEN}, {"SENTRY_ORG": ORG}])
async def test_no_api_call_without_token_and_organisation(settings, env):
    calls = []
    http = api(lambda request: calls.append(request) or httpx.Response(200))
    assert await files(settings, load("issue-created-escalating.json"), http=http, env=env) == ["/runner"]
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
    assert await files(settings, {"data": {"error": {"exception": garbage_frames}}}, env={}) == []
    assert await files(settings, None, env={}) == []


def test_hook_first_seen_reads_the_delivery():
    seen = plugin.first_seen(link=LINK, payload=load("issue-created-escalating.json"))
    assert seen == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=timezone.utc)
    assert plugin.first_seen(link=LINK, payload={"data": {"issue": {"firstSeen": 5}}}) is None
    other = LinkView(source="echo", external_id="1", external_url=None, metadata={})
    assert plugin.first_seen(link=other, payload=load("issue-created-escalating.json")) is None
