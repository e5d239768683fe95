"""``POST /api/github/webhook``'s hooks: the signature over the raw body, what each real delivery
means, and what comes back to the hub (as ``github:<login>``, never the hub's own writes)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from hub import IssueView
from hub.config import build_settings
from hub_github import issues, plugin, webhook
from hub_github.settings import CONFIG_SECTION

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"


def body_of(name: str) -> bytes:
    return (FIXTURES / "webhooks" / name).read_bytes()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


# Built once: hypothesis runs a test many times over one set of fixtures.
CONFIG = build_settings({"github": {"issues": {"enabled": True, "repo": REPO, "assignees": {"alice": "Codertocat"}}}},
                        [CONFIG_SECTION], env={"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "ghp_x"})
ISSUE = IssueView(id="i-1", identifier="CHIPP-1", title="t", description="", priority="P2", status="open",
                  assignee="alice", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def config():
    return CONFIG


@pytest.fixture
def hub_issue():
    return ISSUE


def test_hook_verify_webhook_accepts_githubs_signature_over_the_raw_bytes(config):
    body = body_of("issues.reopened.json")
    assert plugin.verify_webhook(source="github", headers=signed(body), body=body, config=config).ok
    # The same JSON re-serialised is other bytes: the signature no longer matches.
    other = json.dumps(json.loads(body)).encode()
    verdict = plugin.verify_webhook(source="github", headers=signed(body), body=other, config=config)
    assert not verdict.ok and verdict.reason == "invalid signature"
    assert plugin.verify_webhook(source="sentry", headers={}, body=body, config=config) is None


def test_without_a_secret_every_delivery_is_refused(make_settings):
    config = make_settings({"issues": {"enabled": True, "repo": REPO}})
    body = body_of("ping.json")
    verdict = plugin.verify_webhook(source="github", headers=signed(body), body=body, config=config)
    assert not verdict.ok and "GITHUB_WEBHOOK_SECRET" in verdict.reason


@hypothesis_settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=512), header=st.text(max_size=80), secret=st.text(min_size=1, max_size=40))
def test_a_forged_or_garbled_signature_is_never_accepted(body, header, secret):
    config = CONFIG
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    for given_header in (header, signed(body, secret)["x-hub-signature-256"]):
        verdict = webhook.verify({"x-hub-signature-256": given_header}, body, config.plugin("github"))
        assert verdict.ok == (given_header.strip().lower() == expected)


@pytest.mark.parametrize(("name", "event", "kind"), [
    ("issues.closed.json", "issues", "update"), ("issues.reopened.json", "issues", "update"),
    ("issues.assigned.json", "issues", "update"), ("issues.unassigned.json", "issues", "update"),
    ("issue_comment.created.json", "issue_comment", "update"),
    ("issues.opened.json", "issues", "skip"), ("issue_comment.edited.json", "issue_comment", "skip"),
    ("ping.json", "ping", "skip"),
])
def test_hook_accept_webhook_on_githubs_own_bodies(config, name, event, kind):
    payload = json.loads(body_of(name))
    if "repository" in payload and payload.get("issue"):
        payload["repository"]["full_name"] = REPO  # the closed delivery is from another repository
    decision = plugin.accept_webhook(source="github", headers={"x-github-event": event}, payload=payload,
                                     config=config)
    assert decision.kind == kind, decision.reason
    if kind == "update":
        assert decision.external_id == f"{REPO.lower()}#{payload['issue']['number']}"


def test_unmirrored_repositories_and_the_hubs_own_writes_are_skipped(config):
    payload = json.loads(body_of("issues.closed.json"))  # C-Saunders/flynn_env_test: not mirrored
    decision = webhook.accept({"x-github-event": "issues"}, payload, config.plugin("github"))
    assert decision.kind == "skip" and "not mirrored" in decision.reason
    payload = json.loads(body_of("issue_comment.created.json"))
    payload["comment"]["body"] = "**sentry** (in the hub):\n\nRegressed\n\n<!-- hub:comment abc -->\n"
    decision = webhook.accept({"x-github-event": "issue_comment"}, payload, config.plugin("github"))
    assert decision.kind == "skip" and "the hub posted" in decision.reason
    issues.remember_login("Codertocat")
    try:
        decision = webhook.accept({"x-github-event": "issues"}, json.loads(body_of("issues.reopened.json")),
                                  config.plugin("github"))
        assert decision.kind == "skip" and "own token" in decision.reason
    finally:
        issues._OWN_LOGINS.discard("codertocat")


def test_hook_external_update_brings_changes_back_as_their_github_author(config, hub_issue):
    def changes(name):
        return plugin.external_update(source="github", payload=json.loads(body_of(name)), issue=hub_issue,
                                      config=config)

    (close,) = changes("issues.closed.json")
    assert (close.kind, close.actor) == ("close", "github:C-Saunders")
    (reopen,) = changes("issues.reopened.json")
    assert (reopen.kind, reopen.actor) == ("reopen", "github:Codertocat")
    (comment,) = changes("issue_comment.created.json")
    assert comment.kind == "comment" and comment.actor == "github:Codertocat"
    assert comment.text == "You are totally right! I'll get this fixed right away."
    assert comment.key.startswith("github-comment:")
    (assign,) = changes("issues.assigned.json")
    assert (assign.kind, assign.value) == ("assign", "alice")
    (unassign,) = changes("issues.unassigned.json")
    assert (unassign.kind, unassign.value) == ("assign", None)
    assert plugin.external_update(source="sentry", payload={}, issue=hub_issue, config=config) is None


def test_an_issues_delivery_with_a_stray_comment_field_is_not_a_comment(config, hub_issue):
    payload = {**json.loads(body_of("issues.reopened.json")), "comment": 7}
    assert [change.kind for change in webhook.changes_for(payload, hub_issue, config.plugin("github"))] == ["reopen"]


def test_an_assignee_without_a_hub_agent_is_said_in_a_comment(make_settings, hub_issue):
    config = make_settings({"issues": {"enabled": True, "repo": REPO}}, env={"GITHUB_WEBHOOK_SECRET": SECRET})
    (comment,) = webhook.changes_for(json.loads(body_of("issues.assigned.json")), hub_issue,
                                     config.plugin("github"))
    assert comment.kind == "comment" and "Codertocat" in comment.text


@hypothesis_settings(max_examples=300, deadline=None)
@given(payload=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                            lambda children: st.lists(children, max_size=4)
                            | st.dictionaries(st.sampled_from(["action", "issue", "repository", "number", "full_name",
                                                               "comment", "body", "sender", "login",
                                                               "pull_request"]), children, max_size=5),
                            max_leaves=25),
       event=st.sampled_from(["issues", "issue_comment", "ping", "push", ""]))
def test_hostile_bodies_are_skipped_or_rejected_never_raised(payload, event):
    decision = webhook.accept({"x-github-event": event}, payload, CONFIG.plugin("github"))
    assert decision.kind in ("skip", "reject", "update")
    if decision.kind == "update":
        changes = webhook.changes_for(payload, ISSUE, CONFIG.plugin("github"))
        assert all(change.actor and change.actor.startswith("github:") for change in changes)
