"""hub-alertmanager's hooks on bodies a real Alertmanager sent (fixtures/README.md)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from hub import IssueView, ReceivedDelivery

from hub_alertmanager import plugin
from hub_alertmanager.payload import Malformed, read_notification

TOKEN = "am-test-token-0123456789"


def _issue(status: str = "open") -> IssueView:
    return IssueView(id="i", identifier="CHIPP-1", title="t", description="", priority="P1", status=status,
                     assignee=None, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


def _delivery(decision) -> ReceivedDelivery:
    return ReceivedDelivery(source=plugin.SOURCE, headers={}, body=b"", decision=decision)


def test_hook_accept_webhook_firing_creates_by_fingerprint(recorded, settings):
    decision = plugin.accept_webhook(source="alertmanager", payload=recorded("firing.json"), config=settings())
    assert decision.kind == "create" and decision.external_id == "20f7da56295f2463"
    assert decision.response == {"alertmanager": {"receiver": "single", "alerts": 1, "truncatedAlerts": 0}}
    assert plugin.accept_webhook(source="sentry", payload={}, config=settings()) is None


def test_hook_build_issue_title_priority_description(recorded, settings):
    config = settings()
    decision = plugin.accept_webhook(source="alertmanager", payload=recorded("firing.json"), config=config)
    draft = plugin.build_issue(source="alertmanager", config=config, delivery=_delivery(decision))
    assert draft.title == "[InstanceDown] Instance web-1:9100 down"
    assert draft.priority == "P1" and [label.name for label in draft.labels] == ["alertmanager"]
    assert draft.link.external_id == "20f7da56295f2463"
    assert draft.link.external_url == "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    assert "has been down for more than 5 minutes." in draft.description
    assert "- **Started:** 12/1/2026, 9:36:32 AM" in draft.description
    # The silence link matches exactly this alert's labels, in Alertmanager's own UI.
    assert ("http://alertmanager.example:9093/#/silences/new?filter=%7Balertname%3D%22InstanceDown%22%2C"
            "instance%3D%22web-1%3A9100%22%2Cjob%3D%22node%22%2Cseverity%3D%22critical%22%7D") in draft.description
    assert "- `job`: `node`" in draft.description
    assert plugin.build_issue(source="sentry", config=config, delivery=_delivery(decision)) is None


@pytest.mark.parametrize(("severity", "priority"), [("critical", "P1"), ("warning", "P2"), ("info", "P4"),
                                                    ("page", "P3"), ("CRITICAL", "P1")])
def test_severity_map_and_its_default(recorded, settings, severity, priority):
    payload = recorded("firing.json")
    payload["alerts"][0]["labels"]["severity"] = severity
    config = settings()
    decision = plugin.accept_webhook(source="alertmanager", payload=payload, config=config)
    assert plugin.build_issue(source="alertmanager", config=config, delivery=_delivery(decision)).priority == priority
    mapped = settings({"severity_priorities": {"page": "P0"}, "default_priority": "P4"})
    decision = plugin.accept_webhook(source="alertmanager", payload=payload, config=mapped)
    draft = plugin.build_issue(source="alertmanager", config=mapped, delivery=_delivery(decision))
    assert draft.priority == {"page": "P0"}.get(severity, "P4")


def test_hook_external_update_resolved_closes_and_firing_again_reopens(recorded, settings):
    config = settings()
    resolved = plugin.accept_webhook(source="alertmanager", payload=recorded("resolved.json"), config=config)
    assert resolved.kind == "update" and resolved.external_id == "20f7da56295f2463"
    changes = plugin.external_update(source="alertmanager", issue=_issue("open"), config=config,
                                     delivery=_delivery(resolved))
    assert [change.kind for change in changes] == ["close", "comment"]
    assert changes[0].at == datetime(2026, 12, 1, 9, 42, 36, 111197, tzinfo=timezone.utc)
    assert changes[1].text == "Resolved in Alertmanager at 12/1/2026, 9:42:36 AM."
    firing = plugin.accept_webhook(source="alertmanager", payload=recorded("firing.json"), config=config)
    # A repeat notification of an open issue changes nothing.
    assert plugin.external_update(source="alertmanager", issue=_issue("open"), config=config,
                                  delivery=_delivery(firing)) == []
    again = plugin.external_update(source="alertmanager", issue=_issue("closed"), config=config,
                                   delivery=_delivery(firing))
    assert [change.kind for change in again] == ["reopen", "comment"] and again[1].key != changes[1].key
    assert plugin.external_update(source="github", issue=_issue(), config=config, delivery=_delivery(firing)) is None


def test_truncated_alerts_are_reported(recorded, settings, caplog):
    decision = plugin.accept_webhook(source="alertmanager", payload=recorded("grouped-truncated.json"),
                                     config=settings())
    assert decision.response["alertmanager"]["truncatedAlerts"] == 1
    assert "left out 1 alert(s)" in caplog.text


def test_a_grouped_notification_is_split_into_one_decision_per_alert(recorded, settings):
    payload = recorded("grouped-truncated.json")
    payload["alerts"] = payload["alerts"] + recorded("resolved.json")["alerts"]
    config = settings({"exclude_labels": {"service": ["api"]}})
    decision = plugin.accept_webhook(source="alertmanager", payload=payload, config=config)
    assert decision.kind == "split" and decision.response["alertmanager"]["alerts"] == 2
    skipped, resolved = decision.parts
    assert skipped.kind == "skip" and "exclude_labels" in skipped.reason
    assert resolved.kind == "update" and resolved.external_id == "20f7da56295f2463"
    assert resolved.parsed[1].status == "resolved"


def test_label_filters(recorded, settings):
    payload = recorded("firing.json")
    only_db = settings({"include_labels": {"job": ["db"]}})
    assert plugin.accept_webhook(source="alertmanager", payload=payload, config=only_db).kind == "skip"
    not_node = settings({"exclude_labels": {"job": ["node"]}})
    skipped = plugin.accept_webhook(source="alertmanager", payload=payload, config=not_node)
    assert skipped.kind == "skip" and "exclude_labels" in skipped.reason
    node = settings({"include_labels": {"job": ["node", "db"]}, "exclude_labels": {"severity": ["info"]}})
    assert plugin.accept_webhook(source="alertmanager", payload=payload, config=node).kind == "create"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_hook_verify_webhook_bearer_and_basic(settings):
    bearer = settings(env={"ALERTMANAGER_TOKEN": TOKEN})
    verify = plugin.verify_webhook
    assert verify(source="alertmanager", headers={"authorization": f"Bearer {TOKEN}"}, config=bearer).ok
    assert not verify(source="alertmanager", headers={"authorization": "Bearer wrong"}, config=bearer).ok
    assert not verify(source="alertmanager", headers={}, config=bearer).ok
    assert not verify(source="alertmanager", headers={"authorization": _basic("am", TOKEN)}, config=bearer).ok
    basic = settings({"username": "am"}, env={"ALERTMANAGER_PASSWORD": "pw-0123"})
    assert verify(source="alertmanager", headers={"authorization": _basic("am", "pw-0123")}, config=basic).ok
    assert not verify(source="alertmanager", headers={"authorization": _basic("am", "pw-0124")}, config=basic).ok
    assert not verify(source="alertmanager", headers={"authorization": "Basic %%%"}, config=basic).ok
    assert verify(source="sentry", headers={}, config=basic) is None
    # No credential configured: accepted, and refused on an exposed address (exposure_problems).
    assert verify(source="alertmanager", headers={}, config=settings()).ok


def test_hook_check_config_and_exposure_problems(settings):
    assert plugin.check_config(config=settings({"username": "am"})) != []
    assert plugin.check_config(config=settings(env={"ALERTMANAGER_TOKEN": TOKEN})) == []
    assert plugin.exposure_problems(config=settings()) != []
    assert plugin.exposure_problems(config=settings({"allow_unauthenticated": True})) == []
    assert plugin.exposure_problems(config=settings(env={"ALERTMANAGER_TOKEN": TOKEN})) == []


def test_a_secret_in_the_file_is_refused(settings):
    from hub.config import ConfigError

    with pytest.raises(ConfigError):
        settings({"token": "in-the-file"})


@pytest.mark.parametrize("payload", [None, [], {"version": "3", "alerts": []}, {"version": "4"},
                                     {"version": "4", "status": "firing", "alerts": [{"status": "firing"}]},
                                     {"version": "4", "status": "firing", "alerts": [], "truncatedAlerts": -1}])
def test_malformed_bodies_are_rejected_with_a_reason(payload, settings):
    decision = plugin.accept_webhook(source="alertmanager", payload=payload, config=settings())
    assert decision.kind == "reject" and decision.reason and "\n" not in decision.reason


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=20)


@hsettings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_any_value_in_any_field_is_decided_never_raised(data):
    from hub.config import build_settings

    from hub_alertmanager.settings import CONFIG_SECTION
    import json
    from pathlib import Path

    payload = json.loads((Path(__file__).parent / "fixtures" / "firing.json").read_text())
    target = data.draw(st.sampled_from(["top", "alert", "labels", "annotations"]))
    where = {"top": payload, "alert": payload["alerts"][0], "labels": payload["alerts"][0]["labels"],
             "annotations": payload["alerts"][0]["annotations"]}[target]
    key = data.draw(st.sampled_from(sorted(where)) | st.text(max_size=8))
    where[key] = data.draw(JSON)
    config = build_settings({}, [CONFIG_SECTION], env={})
    decision = plugin.accept_webhook(source="alertmanager", payload=payload, config=config)
    assert decision.kind in ("create", "update", "skip", "reject")
    if decision.kind in ("create", "update"):
        draft = plugin.build_issue(source="alertmanager", config=config, delivery=_delivery(decision))
        assert "\n" not in draft.title and len(draft.title) <= 200
        for status in ("open", "closed"):
            plugin.external_update(source="alertmanager", issue=_issue(status), config=config,
                                   delivery=_delivery(decision))


def test_read_notification_keeps_go_zero_time_as_unknown(recorded):
    alert = read_notification(recorded("firing.json")).alerts[0]
    assert alert.ends_at is None and alert.starts_at is not None
    with pytest.raises(Malformed):
        read_notification({"version": "4", "status": "pending", "alerts": []})
