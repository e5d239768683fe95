"""Sentry's UI-component requests read defensively, and alert-rule settings read and applied."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from hub import Change, EndpointError, ExternalLinkDraft, IssueDraft, IssueView, LabelDraft

from hub_sentry.components.forms import read_identifier, read_issue_link, read_stacktrace_query
from hub_sentry.components.rule_settings import RuleSettings, SettingsError, apply_to_changes, apply_to_draft, \
    read_fields, settings_of_delivery

# The recorded metric alert with this app's alert-rule action on each trigger (Sentry's
# integration-platform example), shared with the host's tests.
SHARED = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "sentry"
METRIC_WITH_ACTION = SHARED / "mocks-integration-platform-example" / "metric_alert-critical-with_alert_rule_action.json"
CREATE = SHARED / "components" / "issue-link-create.json"

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


def test_the_recorded_create_body_is_read_with_its_numeric_issue_id():
    form = read_issue_link(json.loads(CREATE.read_text()))
    assert (form.issue_id, form.project_slug, form.project_id, form.actor) == ("1117540176", "front-end", "1",
                                                                                "Jane Doe")
    assert form.web_url == "https://sentry.io/organizations/test-org/issues/1117540176/"


@pytest.mark.parametrize("change, message", [
    ({"issueId": True}, "issueId must be the Sentry issue's numeric id"),
    ({"issueId": "abc"}, "issueId must be the Sentry issue's numeric id"),
    ({"issueId": "\u00b2"}, "issueId must be the Sentry issue's numeric id"),
    ({"project": {"slug": "../admin"}}, "project.slug is missing or malformed"),
    ({"fields": ["title"]}, "fields must be an object"),
])
def test_malformed_issue_link_bodies_say_what_is_wrong(change, message):
    with pytest.raises(EndpointError) as refused:
        read_issue_link({**json.loads(CREATE.read_text()), **change})
    assert refused.value.status == 400 and refused.value.message == message


@settings(max_examples=60, deadline=None)
@given(payload=json_values)
def test_any_json_is_an_issue_link_or_a_400(payload):
    try:
        form = read_issue_link(payload)
        read_identifier(form.fields)
    except EndpointError as error:
        assert error.status == 400 and error.message


@example(query={"filename": "a.py", "lineNo": "\u00b2"})
@example(query={"filename": "a.py", "lineNo": "\u0661"})
@given(query=st.dictionaries(st.sampled_from(["filename", "lineNo", "projectSlug", "installationId", "x"]),
                             st.text(max_size=40)))
def test_any_query_is_a_stack_frame_or_a_400(query):
    try:
        frame = read_stacktrace_query(query)
    except EndpointError as error:
        assert error.status == 400
    else:
        assert frame.filename and (frame.line is None or frame.line > 0)


@settings(max_examples=60, deadline=None)
@given(fields=json_values)
def test_any_settings_are_read_or_refused_with_a_reason(fields):
    try:
        read_fields(fields, strict=True)
    except SettingsError as error:
        assert str(error)
    read_fields(fields, strict=False) if isinstance(fields, list) else None


def test_settings_when_saved_are_strict_and_when_applied_lenient():
    fields = [{"name": "priority", "value": "p1"}, {"name": "labels", "value": "a, b, a"},
              {"name": "enrichment", "value": "off"}, {"name": "assignee", "value": 7}]
    assert read_fields(fields, strict=True) == RuleSettings(priority="P1", assignee="7", labels=("a", "b"),
                                                            enrich=False)
    with pytest.raises(SettingsError, match="labels must be at most 10"):
        read_fields([{"name": "labels", "value": ",".join(str(n) for n in range(11))}], strict=True)
    assert read_fields([{"name": "priority", "value": "urgent"}, {"name": "channel", "value": "#x"}],
                       strict=False) == RuleSettings()


def test_a_metric_alert_carries_the_settings_of_the_trigger_that_fired():
    payload = json.loads(METRIC_WITH_ACTION.read_text())
    triggers = payload["data"]["metric_alert"]["alert_rule"]["triggers"]
    triggers[0]["actions"][0]["settings"] = [{"name": "priority", "value": "P0"}]
    triggers[1]["actions"][0]["settings"] = [{"name": "priority", "value": "P2"}]
    assert settings_of_delivery(payload, "metric_alert").priority == "P0"
    assert settings_of_delivery({**payload, "action": "warning"}, "metric_alert").priority == "P2"
    assert settings_of_delivery({**payload, "action": "resolved"}, "metric_alert") is None
    # Another installation's action on the same trigger is not ours.
    triggers[0]["actions"][0]["sentry_app_installation_uuid"] = "another-app"
    assert settings_of_delivery(payload, "metric_alert") is None
    # As recorded: the example app's own fields (title, description, userId) mean nothing here.
    assert settings_of_delivery(json.loads(METRIC_WITH_ACTION.read_text()), "metric_alert") == RuleSettings()


def test_applied_to_a_new_issue_and_to_a_tracked_one():
    draft = IssueDraft("t", "d", ExternalLinkDraft("1"), priority="P2", labels=(LabelDraft("Sentry"),))
    rule = RuleSettings(priority="P0", assignee="oncall", labels=("Sentry", "paging"), enrich=False)
    made = apply_to_draft(draft, rule)
    assert (made.priority, made.assignee, [label.name for label in made.labels], made.enrich) == (
        "P0", "oncall", ["Sentry", "paging"], False)
    issue = IssueView(id="i", identifier="CHIPP-1", title="t", description="", priority="P1", status="open",
                      assignee="ana", created_at=datetime.now(timezone.utc))
    changes = apply_to_changes([Change("comment", text="fired")], issue, rule)
    assert [(change.kind, change.value) for change in changes] == [
        ("comment", None), ("priority", "P0"), ("label", "Sentry"), ("label", "paging")]
    # Never lowers what a person set, never takes an issue from its assignee.
    assert apply_to_changes([], issue, RuleSettings(priority="P3", assignee="oncall")) == []
