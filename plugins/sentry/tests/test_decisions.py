"""accept_webhook: the seed's event tables, other resources, the project filter, malformed payloads."""

from __future__ import annotations

import copy
import logging

import pytest

from hub_sentry import plugin

from sentry_fixtures import load

ISSUE = {"content-type": "application/json", "sentry-hook-resource": "issue"}


def accept(settings, payload, headers=ISSUE, **sentry):
    return plugin.accept_webhook(source="sentry", headers=headers, payload=payload,
                                 config=settings(sentry=sentry or None))


def delivery(action, substatus=None, slug="ipe"):
    payload = load("issue-created.json")
    payload["action"] = action
    payload["data"]["issue"]["project"]["slug"] = slug
    if substatus is not None:
        payload["data"]["issue"]["substatus"] = substatus
    return payload


@pytest.mark.parametrize(
    ("action", "substatus"),
    [("created", "new"), ("unresolved", "regressed"), ("unresolved", "escalating"), ("created", "escalating"),
     ("created", None)],
)
def test_hook_accept_webhook_creates_for_the_seed_table(settings, action, substatus):
    decision = accept(settings, delivery(action, substatus))
    assert decision.kind == "create"
    assert decision.external_id == "123"
    assert decision.response == {"sentry": {"id": "123", "shortId": "IPE-1"}}


@pytest.mark.parametrize(
    ("action", "substatus", "reason"),
    [
        ("created", "ongoing", "action=created, substatus=ongoing: not a new unique error"),
        ("unresolved", "ongoing", "action=unresolved, substatus=ongoing: neither a regression nor an escalation"),
        ("deleted", None, "action=deleted is not handled"),
    ],
)
def test_hook_accept_webhook_skips_with_the_reason(settings, action, substatus, reason, caplog):
    with caplog.at_level(logging.INFO, logger="hub.sentry"):
        decision = accept(settings, delivery(action, substatus))
    assert (decision.kind, decision.reason) == ("skip", reason)
    assert f"[Sentry Webhook] Skipping: action={action}, substatus={substatus}" in caplog.text


@pytest.mark.parametrize("action", ["resolved", "assigned", "ignored", "archived"])
def test_hook_accept_webhook_lifecycle_actions_update_the_tracked_issue(settings, action):
    decision = accept(settings, delivery(action))
    assert (decision.kind, decision.external_id) == ("update", "123")


@pytest.mark.parametrize(
    ("action", "switch", "reason"),
    [
        ("resolved", "auto_resolve", "action=resolved: error was fixed, no action needed"),
        ("assigned", "sync_assignees", "action=assigned: just an assignment change"),
    ],
)
def test_lifecycle_switches_off_bring_back_the_seed_table(settings, action, switch, reason):
    decision = accept(settings, delivery(action), **{switch: False})
    assert (decision.kind, decision.reason) == ("skip", reason)


def test_received_line_names_the_delivery_in_verbose_logging(settings, caplog):
    with caplog.at_level(logging.INFO, logger="hub.sentry"):
        accept(settings, delivery("created", "new"))
    assert "Received:" not in caplog.text  # the host's outcome line is the one INFO line
    with caplog.at_level(logging.DEBUG, logger="hub.sentry"):
        accept(settings, delivery("created", "new"))
    assert "[Sentry Webhook] Received: resource=issue, action=created, substatus=new, issue=IPE-1" in caplog.text


def test_a_payload_that_needed_notes_is_received_at_info(settings, caplog):
    body = delivery("created", "new")
    del body["data"]["issue"]["title"]
    with caplog.at_level(logging.INFO, logger="hub.sentry"):
        accept(settings, body)
    assert "Received: resource=issue" in caplog.text and "data.issue.title missing" in caplog.text


@pytest.mark.parametrize("resource", ["error", "comment"])
def test_other_resources_are_skipped(settings, resource):
    decision = accept(settings, {"action": "created", "data": {}}, headers={"sentry-hook-resource": resource})
    assert (decision.kind, decision.reason) == ("skip", f"resource {resource} is not handled")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.clear(), "action is missing"),
        (lambda p: p.update(action=7), "action is missing"),
        (lambda p: p.pop("data"), "data is missing"),
        (lambda p: p["data"].pop("issue"), "data.issue is missing"),
        (lambda p: p["data"]["issue"].pop("id"), "data.issue.id is missing (and no issue URL names it)"),
        (lambda p: p["data"]["issue"].update(id=True), "data.issue.id is missing (and no issue URL names it)"),
    ],
)
def test_malformed_payloads_are_rejected_naming_what_is_missing(settings, mutate, reason):
    payload = delivery("created")
    mutate(payload)
    decision = accept(settings, payload)
    assert (decision.kind, decision.reason) == ("reject", reason)


@pytest.mark.parametrize(
    ("mutate", "note"),
    [
        (lambda p: p["data"]["issue"].update(title=None), "data.issue.title missing: derived from the issue's metadata"),
        (lambda p: p["data"]["issue"].update(project="ipe"), "data.issue.project.slug missing: used sentry"),
        (lambda p: p["data"]["issue"]["project"].pop("slug"), "data.issue.project.slug missing: used ipe"),
        (lambda p: p["data"]["issue"].pop("id") and p["data"]["issue"].update(
            web_url="https://sentry.io/organizations/acme/issues/123/"), "data.issue.id taken from data.issue.web_url"),
    ],
)
def test_what_can_be_derived_is_derived_and_said(settings, mutate, note):
    """A real, signed delivery is never refused for a field the hub can derive: it says what it did."""
    payload = delivery("created")
    mutate(payload)
    decision = accept(settings, payload)
    assert (decision.kind, decision.external_id) == ("create", "123")
    assert decision.response["sentry"]["notes"] == [note]
    draft = plugin.build_issue(delivery=None, source="sentry", payload=payload, config=settings())
    assert draft.title.strip() and draft.link.external_id == "123"


@pytest.mark.parametrize("payload", [None, [], "text", 42, {"data": []}])
def test_not_an_object_is_rejected(settings, payload):
    assert accept(settings, payload).kind == "reject"


def test_missing_resource_header_is_rejected(settings):
    decision = accept(settings, delivery("created"), headers={})
    assert (decision.kind, decision.reason) == ("reject", "missing Sentry-Hook-Resource header")


def test_numeric_ids_are_text(settings):
    payload = delivery("created")
    payload["data"]["issue"]["id"] = 1170820242
    assert accept(settings, payload).external_id == "1170820242"


def test_project_filters(settings):
    projects = {"projects": {"include": ["chipp-*"], "exclude": ["*-staging"]}}
    assert accept(settings, delivery("created", slug="chipp-admin"), **projects).kind == "create"
    for slug in ("ipe", "chipp-admin-staging"):
        decision = accept(settings, delivery("created", slug=slug), **projects)
        assert (decision.kind, decision.reason) == ("skip", f"project {slug} is not enabled")
    assert accept(settings, delivery("created", slug="x-staging"), projects={"exclude": ["*-staging"]}).kind == "skip"


def test_hook_accept_webhook_is_not_for_other_sources(settings):
    assert plugin.accept_webhook(source="echo", headers=ISSUE, payload={}, config=settings()) is None


def test_the_published_escalating_example_creates(settings):
    decision = accept(settings, copy.deepcopy(load("issue-created-escalating.json")))
    assert decision.kind == "create" and decision.response == {"sentry": {"id": "1170820242", "shortId": "FRONT-END-9"}}


def test_metric_alerts_create_per_incident_and_resolve(settings):
    critical = load("metric_alert-critical.json")
    decision = accept(settings, critical, headers={"sentry-hook-resource": "metric_alert"})
    assert (decision.kind, decision.external_id) == ("create", "metric_alert:789")
    resolved = load("metric_alert-resolved.json")
    decision = accept(settings, resolved, headers={"sentry-hook-resource": "metric_alert"})
    assert (decision.kind, decision.external_id) == ("update", "metric_alert:4")
    off = accept(settings, critical, headers={"sentry-hook-resource": "metric_alert"}, metric_alerts=False)
    assert (off.kind, off.reason) == ("skip", "resource metric_alert is not handled")


def test_metric_alert_projects_honour_the_filter(settings):
    resolved = load("metric_alert-resolved.json")  # projects: ["bar"]
    decision = accept(settings, resolved, headers={"sentry-hook-resource": "metric_alert"},
                      projects={"include": ["chipp-*"]})
    assert (decision.kind, decision.reason) == ("skip", "project bar is not enabled")


def test_event_alerts_link_to_the_events_issue(settings):
    decision = accept(settings, load("event_alert-triggered.json"), headers={"sentry-hook-resource": "event_alert"})
    assert (decision.kind, decision.external_id) == ("create", "1117540176")
    filtered = accept(settings, load("event_alert-triggered.json"), headers={"sentry-hook-resource": "event_alert"},
                      projects={"include": ["chipp-*"]})
    # The event names its project only in its API URL (.../projects/test-org/front-end/events/...).
    assert (filtered.kind, filtered.reason) == ("skip", "project front-end is not enabled")


def test_malformed_alerts_are_rejected(settings):
    metric = accept(settings, {"action": "critical", "data": {}}, headers={"sentry-hook-resource": "metric_alert"})
    assert metric.reason == "data.metric_alert is missing"
    assert accept(settings, {"action": "triggered", "data": {"event": {}}},
                  headers={"sentry-hook-resource": "event_alert"}).reason == \
        "data.event.issue_id is missing (and no issue URL names it)"


@pytest.mark.parametrize(
    ("resource", "base", "stray", "reason"),
    [
        ("issue", "issue-created.json", "metric_alert",
         "Sentry-Hook-Resource is issue but the body carries data.metric_alert"),
        ("event_alert", "event_alert-triggered.json", "issue",
         "Sentry-Hook-Resource is event_alert but the body carries data.issue"),
    ],
)
def test_a_body_carrying_another_resource_too_is_rejected(settings, resource, base, stray, reason):
    # build_issue and external_update get no headers and judge the body by its shape.
    payload = load(base)
    payload["data"][stray] = {"id": "1"}
    decision = accept(settings, payload, headers={"sentry-hook-resource": resource})
    assert (decision.kind, decision.reason) == ("reject", reason)


@pytest.mark.parametrize("tags", [7, "project_slug", None, [["project_slug"]], [["project_slug", 3]]])
def test_odd_event_alert_tags_are_tolerated(settings, tags):
    payload = load("event_alert-triggered.json")
    payload["data"]["event"]["tags"] = tags
    decision = accept(settings, payload, headers={"sentry-hook-resource": "event_alert"})
    assert (decision.kind, decision.external_id) == ("create", "1117540176")


def test_what_accept_webhook_read_reaches_build_issue_without_a_second_read(settings, seed_payload, monkeypatch):
    """The hook contract's ``delivery.parsed``: the issue payload is read once per delivery."""
    from hub import ReceivedDelivery

    from hub_sentry import plugin as sentry_plugin
    from hub_sentry.payload import read_issue_payload

    config = settings()
    decision = sentry_plugin.accept_webhook(source="sentry", headers={"sentry-hook-resource": "issue"},
                                            payload=seed_payload, config=config)
    assert decision.kind == "create" and decision.parsed == read_issue_payload(seed_payload)
    delivery = ReceivedDelivery(source=sentry_plugin.SOURCE, headers={}, body=b"", payload=seed_payload,
                                decision=decision)
    reads = []
    monkeypatch.setattr(sentry_plugin, "read_issue_payload", lambda payload: reads.append(payload))
    draft = sentry_plugin.build_issue(source="sentry", payload=seed_payload, config=config, delivery=delivery)
    assert reads == [] and draft.link.external_id == decision.external_id
