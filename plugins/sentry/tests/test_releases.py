"""The stack-trace link's release commit against the fake Sentry: asked once through SentryApi,
never waited for (a browser is waiting), any failure the default branch."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import httpx
import pytest

from hub import MemoryCache
from hub_sentry.components.releases import CACHE_NAMESPACE, TIMEOUT_SECONDS, release_commit

from sentry_api_fake import ORG, TOKEN, FakeSentry

ENV = {"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}
RECORDED_SHA = "6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb"  # project-releases.json's lastCommit.id


def context_on(handler) -> SimpleNamespace:
    """What an endpoint handler gets, as far as release_commit reads it: the HTTP client and the cache."""
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: seen.append(request) or handler(request)))
    return SimpleNamespace(http=http, cache=MemoryCache(), seen=seen)


async def test_the_newest_releases_commit_asked_once_with_the_browsers_timeout(settings):
    fake = FakeSentry()
    fake.add_release("front-end")
    context = context_on(fake.handle)
    config = settings(env=ENV).plugin("sentry")
    assert await release_commit(context, config, "front-end") == RECORDED_SHA
    assert await release_commit(context, config, "front-end") == RECORDED_SHA  # the cache answers
    (asked,) = context.seen
    assert asked.url.path == f"/api/0/projects/{ORG}/front-end/releases/" and asked.url.params["per_page"] == "1"
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    assert asked.extensions["timeout"] == dict.fromkeys(("connect", "read", "write", "pool"), TIMEOUT_SECONDS)
    assert TIMEOUT_SECONDS <= 2.0  # a browser is waiting on the redirect


async def test_a_project_without_releases_or_a_commit_is_the_default_branch(settings):
    fake = FakeSentry()
    fake.add_issue("1", slug="api")  # known to Sentry, no release: Sentry answers []
    # A release with no commit associated: only its version's buildHash, "abc123", too short to be one.
    fake.add_release("web")["lastCommit"] = None
    config = settings(env=ENV).plugin("sentry")
    context = context_on(fake.handle)
    assert await release_commit(context, config, "api") is None
    assert await release_commit(context, config, "web") is None
    assert await context.cache.get(CACHE_NAMESPACE, "api") == {"commit": None}  # an answer: kept


@pytest.mark.parametrize("status, headers, said", [
    # The rate limit is never waited out: the person gets the default branch now.
    (429, {"retry-after": "60", "x-sentry-rate-limit-remaining": "0"}, "Sentry's rate limit (HTTP 429"),
    (401, None, "Sentry refused the token (HTTP 401"),
    (403, None, "the integration needs the permission that grants project:read"),
    (404, None, "not found in Sentry (HTTP 404"),
    (503, None, "Sentry answered HTTP 503"),
])
async def test_any_failure_is_the_default_branch_at_once_and_not_cached(settings, caplog, status, headers, said):
    fake = FakeSentry()
    fake.add_release("front-end")
    fake.fail_next(status, "/releases/", headers=headers)
    context = context_on(fake.handle)
    config = settings(env=ENV).plugin("sentry")
    with caplog.at_level(logging.INFO, logger="hub"):
        assert await release_commit(context, config, "front-end") is None
    assert len(context.seen) == 1  # one question, no wait, no second try while the browser waits
    assert f"[Sentry] Newest release of front-end not fetched: cannot read the newest release of front-end: " \
           in caplog.text and said in caplog.text
    assert TOKEN not in caplog.text
    assert await context.cache.get(CACHE_NAMESPACE, "front-end") is None
    assert await release_commit(context, config, "front-end") == RECORDED_SHA  # the next click asks again


async def test_a_slow_sentry_is_the_default_branch(settings, caplog):
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        assert await release_commit(context_on(slow), settings(env=ENV).plugin("sentry"), "front-end") is None
    assert "did not answer (ReadTimeout)" in caplog.text


@pytest.mark.parametrize("env, project", [({}, "front-end"), ({"SENTRY_AUTH_TOKEN": TOKEN}, "front-end"),
                                          ({"SENTRY_ORG": ORG}, "front-end"), (ENV, None)])
async def test_nothing_is_asked_without_token_organisation_or_project(settings, env, project):
    context = context_on(lambda request: httpx.Response(500))
    assert await release_commit(context, settings(env=env).plugin("sentry"), project) is None
    assert context.seen == []
