"""external_update: what Sentry's later events do to the issue the hub already tracks."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from hub import Change, IssueView
from hub_sentry import plugin

from sentry_fixtures import SEED_EXAMPLE, load


def tracked(status="open", priority="P3") -> IssueView:
    return IssueView(id="u1", identifier="CHIPP-3", title="t", description="d", priority=priority, status=status,
                     assignee=None, created_at=datetime(2024, 12, 1, tzinfo=timezone.utc))


def update(settings, payload, issue=None, **sentry):
    return plugin.external_update(delivery=None, source="sentry", payload=payload, issue=issue or tracked(),
                                  config=settings(sentry=sentry or None))


def test_hook_external_update_regression_reopens_a_closed_issue_and_comments(settings):
    changes = update(settings, SEED_EXAMPLE, tracked(status="closed"))
    assert changes == [
        Change("reopen", at=datetime(2024, 12, 13, 15, 45, tzinfo=timezone.utc)),
        Change("comment", text="Sentry: this error regressed after being marked as resolved (42 events, 15 users); "
                               "last seen 2024-12-13T15:45:00Z.",
               key="sentry:regressed:2024-12-13T15:45:00Z:42"),
    ]


def test_hook_external_update_escalation_of_an_open_issue_comments_and_states_its_time(settings):
    # The reopen changes no status of an open issue; its time (lastSeen) makes an older
    # `resolved`, late or replayed, be ignored by the host.
    changes = update(settings, load("issue-created-escalating.json") | {"action": "unresolved"})
    assert [change.kind for change in changes] == ["reopen", "comment"]
    assert changes[0].at is not None
    assert changes[1].text.startswith("Sentry: this error is escalating (1 events, 1 users)")


def test_hook_external_update_duplicate_creation_changes_nothing(settings):
    assert update(settings, load("issue-created.json")) == []


def test_regression_comment_can_be_turned_off(settings):
    assert update(settings, SEED_EXAMPLE, tracked(status="closed"), comment_on_regression=False) == []


def test_hook_external_update_resolved_closes_naming_who_and_the_release(settings):
    payload = load("issue-resolved.json")
    payload["actor"] = {"type": "user", "id": "1", "name": "Jane"}
    payload["data"]["issue"]["statusDetails"] = {"inRelease": "v1.2.3"}
    assert update(settings, payload) == [
        Change("close", at=datetime(2022, 4, 4, 18, 17, 18, 320000, tzinfo=timezone.utc)),
        Change("comment", text="Resolved in Sentry by Jane in release v1.2.3.",
               key="sentry:resolved:2022-04-04T18:17:18.320000Z:Jane"),
    ]


def test_resolved_without_actor_or_release(settings):
    assert update(settings, load("issue-resolved.json"))[1].text == "Resolved in Sentry."


def test_hook_external_update_assignee_is_mapped_never_guessed(settings, caplog):
    mapped = update(settings, load("issue-assigned.json"), assignees={"person@example.com": "pat"})
    assert mapped == [Change("assign", value="pat")]
    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        unmapped = update(settings, load("issue-assigned.json"))
    assert [change.kind for change in unmapped] == ["comment"]
    assert "person@example.com" in unmapped[0].text
    assert "Assignee person@example.com has no hub agent" in caplog.text
    unassigned = load("issue-assigned.json")
    unassigned["data"]["issue"]["assignedTo"] = None
    assert update(settings, unassigned) == [Change("assign", value=None)]


def test_team_assignees_map_by_slug(settings):
    payload = load("issue-assigned.json")
    payload["data"]["issue"]["assignedTo"] = {"type": "team", "id": "9", "name": "Backend", "slug": "backend"}
    assert update(settings, payload, assignees={"team:backend": "oncall"}) == [Change("assign", value="oncall")]


@pytest.mark.parametrize(("mode", "kinds"), [("comment", ["comment"]), ("close", ["close", "comment"]),
                                             ("label", ["label", "comment"])])
def test_hook_external_update_archived_follows_the_setting(settings, mode, kinds):
    changes = update(settings, load("issue-ignored.json"), archived=mode)
    assert [change.kind for change in changes] == kinds
    assert changes[-1].text == "Archived in Sentry."


def test_hook_external_update_metric_alert_incident(settings):
    critical = load("metric_alert-critical.json")
    changes = update(settings, critical, tracked(status="closed", priority="P2"))
    assert [(change.kind, change.value) for change in changes] == [("reopen", None), ("priority", "P1"),
                                                                   ("comment", None)]
    resolved = update(settings, load("metric_alert-resolved.json"))
    assert [change.kind for change in resolved] == ["close", "comment"]


def test_hook_external_update_event_alert_comments_once_per_event_and_rule(settings):
    [change] = update(settings, load("event_alert-triggered.json"))
    event, rule = "e4874d664c3540c1a32eab185f12c5ab", "Very Important Alert Rule!"
    assert (change.kind, change.key) == ("comment", f"sentry:event-alert:{event}:{rule}")
    assert change.text == f'Sentry alert rule "{rule}" fired for event {event}.'


def test_hook_external_update_is_not_for_other_sources(settings):
    assert plugin.external_update(delivery=None, source="echo", payload=SEED_EXAMPLE, issue=tracked(), config=settings()) is None
