"""Whatever a sender posts, no hook raises: wrong types, missing parts, mixed-up resources."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from hub import Decision, IssueDraft, IssueView, LinkView, Verdict
from hub.config import build_settings
from hub.testing import MISSING, json_paths, replaced
from hub_sentry import plugin
from hub_sentry.settings import CONFIG_SECTION

from hostile import DATE_KEYS, EXTREME_DATES, hostile
from sentry_fixtures import SECRET, SEED_EXAMPLE, load

FUZZ = hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                           database=None)
#: (Sentry-Hook-Resource, body) of each valid delivery the fuzzing starts from.
DELIVERIES = [("issue", SEED_EXAMPLE), *((name.split("-")[0], load(name)) for name in (
    "issue-created.json", "issue-created-escalating.json", "issue-assigned.json", "error-created.json",
    "event_alert-triggered.json", "metric_alert-critical.json", "metric_alert-resolved.json"))]
BASES = [body for _, body in DELIVERIES]
#: Every object a handled resource carries, so one resource's body can turn up inside another's.
PARTS = [copy.deepcopy(base["data"][key]) for base in BASES for key in base["data"]
         if key in ("issue", "event", "metric_alert", "error")]
CONFIG = build_settings({"sentry": {"organization": "acme", "assignees": {"jane@example.com": "jane"}}},
                        [CONFIG_SECTION], env={"SENTRY_AUTH_TOKEN": "fuzz-token", "SENTRY_CLIENT_SECRET": SECRET})
ISSUE = IssueView(id="1", identifier="CHIPP-1", title="t", description="d", priority="P3", status="closed",
                  assignee=None, created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))

WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True), st.text(max_size=20), st.just([]), st.just({}), st.just(""),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.sampled_from(PARTS), st.just("`*[x](y)\n## z"), st.just("2024-13-45T99:99:99Z"),
    # Generated classes: non-finite numbers, any code point, deep nesting, extreme dates, wrong types.
    hostile(),
)


def paths(value: Any) -> list[tuple]:
    """Every key path in a JSON document (list items included), the whole document first."""
    return [(), *json_paths(value)]


RESOURCES = st.sampled_from(["issue", "event_alert", "metric_alert", "error", "comment", ""])


@st.composite
def deliveries(draw) -> tuple[str, Any]:
    """A fixture with one to three parts replaced by wrong values, or a stray resource object added.

    Mostly under its own resource header (so many get past the first checks), else under any.
    """
    resource, payload = draw(st.sampled_from(DELIVERIES))
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        resource = draw(RESOURCES)
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not isinstance(payload, (dict, list)):
            break
        if draw(st.booleans()) and isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            key = draw(st.sampled_from(["issue", "event", "metric_alert", "error"]))
            payload["data"][key] = copy.deepcopy(draw(st.sampled_from(PARTS)))
            continue
        path = draw(st.sampled_from(paths(payload)))
        value = draw(st.one_of(WRONG, st.just(MISSING)))
        payload = replaced(payload, path, value if value is MISSING else copy.deepcopy(value))
    return resource, payload


def api_answers() -> st.SearchStrategy[httpx.Response]:
    """What Sentry's API might answer for the latest event."""
    return st.one_of(
        st.builds(lambda body: httpx.Response(200, json=body), st.sampled_from([*BASES, [], None, 3, {"entries": 7}])),
        st.builds(lambda part: httpx.Response(200, json={"entries": [{"type": "exception", "data": part}]}),
                  st.sampled_from([*PARTS, {"values": [{"stacktrace": {"frames": [{"inApp": 1}, None]}}]}])),
        st.just(httpx.Response(200, text="{not json")), st.just(httpx.Response(502)),
    )


def run_every_hook(resource: str, payload: Any, answer: httpx.Response) -> None:
    """accept_webhook, then what the host calls for its Decision, then the worker's hooks."""
    headers = {"sentry-hook-resource": resource} if resource else {}
    decision = plugin.accept_webhook(source="sentry", headers=headers, payload=payload, config=CONFIG)
    assert isinstance(decision, Decision)
    # What goes into the JSON answer can always be encoded (no lone surrogate, nothing non-JSON).
    json.dumps({"reason": decision.reason, **decision.response}, allow_nan=False).encode("utf-8")
    if decision.kind in ("create", "update"):
        assert decision.external_id
    if decision.kind == "create":
        draft = plugin.build_issue(delivery=None, source="sentry", payload=payload, config=CONFIG)
        assert isinstance(draft, IssueDraft)
        # Title and description are Markdown built from the payload: always valid UTF-8 text.
        (draft.title + draft.description).encode("utf-8")
    if decision.kind in ("create", "update"):
        changes = plugin.external_update(delivery=None, source="sentry", payload=payload, issue=ISSUE, config=CONFIG)
        assert isinstance(changes, list)
    link = LinkView(source="sentry", external_id=decision.external_id or "1", external_url=None, metadata={})
    seen = plugin.first_seen(link=link, payload=payload)
    assert seen is None or seen.tzinfo is not None

    async def files() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answer)) as http:
            return await plugin.stack_files(link=link, payload=payload, config=CONFIG, http=http)

    found = asyncio.run(files())
    assert found is None or (all(isinstance(path, str) for path in found) and len(found) <= 25)


@FUZZ
@given(deliveries(), api_answers())
def test_hook_accept_webhook_and_the_hooks_after_it_never_raise(delivery, answer):
    run_every_hook(*delivery, answer)


@FUZZ
@given(RESOURCES, st.sampled_from(BASES), api_answers())
def test_every_resource_header_with_every_body_never_raises(resource, payload, answer):
    run_every_hook(resource, copy.deepcopy(payload), answer)


@FUZZ
@given(st.dictionaries(st.sampled_from(["sentry-hook-signature", "sentry-hook-timestamp", "x"]),
                       st.text(max_size=80)), st.binary(max_size=200))
def test_hook_verify_webhook_never_raises(headers, body):
    verdict = plugin.verify_webhook(source="sentry", headers=headers, body=body, config=CONFIG)
    assert isinstance(verdict, Verdict) and not verdict.ok
    assert SECRET not in verdict.reason


DATED = [(resource, base, path) for resource, base in DELIVERIES for path in paths(base)
         if path and path[-1] in DATE_KEYS]


@FUZZ
@given(st.sampled_from(DATED), EXTREME_DATES, api_answers())
def test_an_extreme_date_in_any_date_field_never_raises(dated, when, answer):
    resource, base, path = dated
    payload = replaced(base, path, when)
    run_every_hook(resource, payload, answer)
    link = LinkView(source="sentry", external_id="1", external_url=None, metadata={})
    seen = plugin.first_seen(link=link, payload=payload)
    assert seen is None or 1970 <= seen.astimezone(timezone.utc).year <= 9000
