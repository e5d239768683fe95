"""The backfill reads Sentry's answers as hostile: whatever a page holds, it never raises, and
every delivery it builds is JSON the pipeline can judge."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
from hypothesis import HealthCheck, example, given, settings as hypothesis_settings
from hypothesis import strategies as st

from hub import MemoryCache
from hub.delivery import skipped_answer

from hub_sentry.api import SentryApi
from hub_sentry.backfill import reconcile
from sentry_api_fake import ORG, TOKEN

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
ISSUE = st.fixed_dictionaries({}, optional={"id": JSON, "status": st.sampled_from(["unresolved", "resolved", "ignored"])
                                            | JSON, "substatus": JSON, "title": JSON, "project": JSON,
                                            "lastSeen": JSON})


class Recording:
    """A pipeline that records what it is handed (no database)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.cache = MemoryCache()
        self.bodies: list[dict] = []

    async def linked(self, source, external_id):
        return None

    async def deliver(self, source, headers, body):
        assert headers["sentry-hook-resource"] == "issue"
        self.bodies.append(json.loads(body))
        return skipped_answer("judged")


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.lists(ISSUE | JSON, max_size=6))
# Generated pages seldom hold an issue that becomes a delivery: these do, beside hostile ones.
@example(page=[{"id": "1", "status": "unresolved"}, {"id": 2, "status": "unresolved", "substatus": "regressed"},
               {"id": None, "status": "unresolved"}, "x"])
def test_any_page_is_read_without_raising(settings, page):
    config = settings(env={"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG})

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/0/":
            return httpx.Response(200, json={"version": "0", "auth": {"scopes": ["event:read"]}, "user": None})
        return httpx.Response(200, json=page)

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            pipeline = Recording(config)
            api = SentryApi(http, config.plugin("sentry"), sleep=lambda _s: asyncio.sleep(0))
            tally = await reconcile(pipeline, timedelta(hours=1), api=api)
            return pipeline, tally

    pipeline, tally = asyncio.run(run())
    assert tally.seen == len(page)
    if page and page[0] == {"id": "1", "status": "unresolved"}:  # the explicit example
        assert len(pipeline.bodies) == 2
    for body in pipeline.bodies:  # only unresolved issues with an id become deliveries
        assert body["action"] in ("created", "unresolved") and body["data"]["issue"]["status"] == "unresolved"
