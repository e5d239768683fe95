"""Every real Sentry delivery in fixtures/ goes through every hook: never refused for a field the
plugin can derive (fixtures/README.md says where each came from)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub import Decision, IssueDraft, IssueView, LinkView

from hub_sentry import plugin
from sentry_fixtures import FIXTURES, load

#: file -> (Sentry-Hook-Resource, decision kind, external id)
EXPECTED = {
    "issue-created.json": ("issue", "create", "123"),
    "issue-created-escalating.json": ("issue", "create", "1170820242"),
    "issue-assigned.json": ("issue", "update", "123"),
    "issue-resolved.json": ("issue", "update", "123"),
    "issue-ignored.json": ("issue", "update", "123"),
    "event_alert-triggered.json": ("event_alert", "create", "1117540176"),
    "metric_alert-critical.json": ("metric_alert", "create", "metric_alert:789"),
    "metric_alert-resolved.json": ("metric_alert", "update", "metric_alert:4"),
    "error-created.json": ("error", "skip", None),
    "zulip-issue_created_for_exception.json": ("issue", "create", "1635244907"),
    "zulip-issue_created_for_message.json": ("issue", "create", "1635261062"),
    "zulip-issue_assigned_to_team.json": ("issue", "update", "1638821441"),
    "zulip-event_for_message_golang.json": ("event_alert", "create", "1638844654"),
}
OPEN = IssueView(id="1", identifier="CHIPP-1", title="t", description="d", priority="P3", status="open",
                 assignee=None, created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_every_fixture_is_listed_here_and_in_the_readme():
    files = {path.name for path in FIXTURES.glob("*.json")} - {"api-issue-latest-event.json"}
    assert files == set(EXPECTED)
    readme = (FIXTURES / "README.md").read_text()
    assert all(name in readme for name in files)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_delivery_is_accepted_and_built(settings, name):
    resource, kind, external_id = EXPECTED[name]
    payload = load(name)
    config = settings()
    decision = plugin.accept_webhook(source="sentry", headers={"sentry-hook-resource": resource}, payload=payload,
                                     config=config)
    assert isinstance(decision, Decision)
    assert (decision.kind, decision.external_id) == (kind, external_id), decision.reason
    if kind == "create":
        draft = plugin.build_issue(delivery=None, source="sentry", payload=payload, config=config)
        assert isinstance(draft, IssueDraft) and draft.title.strip() and draft.description.strip()
    if kind in ("create", "update"):
        assert isinstance(plugin.external_update(delivery=None, source="sentry", payload=payload, issue=OPEN, config=config), list)
        link = LinkView(source="sentry", external_id=external_id, external_url=None, metadata={})
        seen = plugin.first_seen(link=link, payload=payload)
        assert seen is None or seen.tzinfo is not None


def test_an_event_alert_naming_its_issue_only_in_urls_says_so(settings):
    decision = plugin.accept_webhook(source="sentry", headers={"sentry-hook-resource": "event_alert"},
                                     payload=load("zulip-event_for_message_golang.json"), config=settings())
    assert decision.response["sentry"] == {"id": "1638844654", "notes": [
        "data.event.issue_id taken from data.event.issue_url", "data.event.project_slug taken from data.event.url"]}
    draft = plugin.build_issue(delivery=None, source="sentry", payload=load("zulip-event_for_message_golang.json"), config=settings())
    assert draft.title == "[zulip-integration-testing] A test message event from golang."


def test_an_old_issue_without_substatus_or_priority_is_created_as_p3(settings):
    draft = plugin.build_issue(delivery=None, source="sentry", payload=load("zulip-issue_created_for_exception.json"),
                               config=settings())
    assert (draft.priority, draft.title) == ("P3", "[zulip-integration-testing] Exception: Custom exception!")
    assert "**Type:** `Exception`" in draft.description and "`trigger-exception.py`" in draft.description
