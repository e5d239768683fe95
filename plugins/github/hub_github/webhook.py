"""GitHub -> hub: ``POST /api/github/webhook`` for ``issues`` and ``issue_comment`` events.

A mirrored GitHub issue is linked to its hub issue as ``github`` / ``owner/repo#number`` (the
sink stored it), so a delivery is an ``update`` of that link: the pipeline skips issues it does
not know (unrelated issues of the repository). What comes back carries the GitHub login as its
actor (``github:octocat``), so the host never publishes it back to GitHub; what the hub itself
wrote (its token's login, its comment marker) is skipped here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from hub import Change, Decision, IssueView, Source, Verdict
from hub import escape_markdown

from hub_github.issues import COMMENT_MARKER, own_logins
from hub_github.settings import GithubSettings

__all__ = ["SOURCE", "accept", "changes_for", "verify"]

SOURCE = Source(name="github", description="GitHub Issues: closes, reopens, assignments and comments come back",
                supported_events=("issues", "issue_comment", "ping"), log_prefix="[GitHub Webhook]",
                delivery_id_headers=("x-github-delivery",),
                # The event, the hook and what it is installed on say what a delivery was.
                kept_headers=("x-github-event", "x-github-hook-id", "x-github-hook-installation-target-type",
                              "x-github-hook-installation-target-id"),
                secret_headers=("x-hub-signature", "x-hub-signature-256"))
_MIRRORED_ACTIONS = {"issues": ("closed", "reopened", "assigned", "unassigned"), "issue_comment": ("created",)}
_COMMENT_MARKER = COMMENT_MARKER.split("{", 1)[0]  # "<!-- hub:comment ": any key
# Hub comments are capped like the rest of the hub's text; GitHub's own cap is 65,536.
_MAX_COMMENT = 65_536


def verify(headers: Mapping[str, str], body: bytes, settings: GithubSettings) -> Verdict:
    """``X-Hub-Signature-256: sha256=<hex>`` is HMAC-SHA256 of the raw body with GITHUB_WEBHOOK_SECRET."""
    if settings.webhook_secret is None:
        return Verdict(False, "GITHUB_WEBHOOK_SECRET is not set: GitHub deliveries are refused")
    given = headers.get("x-hub-signature-256", "")
    if not given.startswith("sha256="):
        return Verdict(False, "missing X-Hub-Signature-256 header")
    expected = hmac.new(settings.webhook_secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given[len("sha256="):].strip().lower().encode(), expected.encode()):
        return Verdict(False, "invalid signature")
    return Verdict(True)


def _login(value: Any) -> str | None:
    login = value.get("login") if isinstance(value, Mapping) else None
    return login if isinstance(login, str) and login else None


def accept(headers: Mapping[str, str], payload: Any, settings: GithubSettings) -> Decision:
    """What a verified GitHub delivery means for the hub: an ``update`` of a mirrored issue, or a skip."""
    event = headers.get("x-github-event", "")
    if event == "ping":
        return Decision.skip("ping: the webhook is set up", summary="ping")
    if event not in _MIRRORED_ACTIONS:
        return Decision.skip(f"event {event or '(none)'} is not mirrored (send issues and issue_comment)",
                             summary=f"event={event}")
    if not isinstance(payload, Mapping):
        return Decision.reject("not a GitHub webhook body: expected a JSON object")
    action, issue, repository = payload.get("action"), payload.get("issue"), payload.get("repository")
    if not isinstance(issue, Mapping) or not isinstance(issue.get("number"), int) or isinstance(issue.get("number"), bool) \
            or not isinstance(repository, Mapping) or not isinstance(repository.get("full_name"), str):
        return Decision.reject(f"not a GitHub {event} delivery: issue.number or repository.full_name is missing")
    repo = repository["full_name"].lower()
    summary = f"event={event}, action={action}, issue={repo}#{issue['number']}"
    if action not in _MIRRORED_ACTIONS[event]:
        return Decision.skip(f"{event}.{action} is not mirrored", summary=summary)
    if repo not in settings.mirrored_repos():
        return Decision.skip(f"repository {repository['full_name']} is not mirrored ([github.issues])", summary=summary)
    if "pull_request" in issue:
        return Decision.skip("a pull request, not an issue", summary=summary)
    sender = _login(payload.get("sender"))
    if sender is not None and sender.lower() in own_logins(settings):
        return Decision.skip(f"made by the hub's own token ({sender}): not brought back", summary=summary)
    comment = payload.get("comment")
    if event == "issue_comment":
        if not isinstance(comment, Mapping) or not isinstance(comment.get("body"), str):
            return Decision.reject("not a GitHub issue_comment delivery: comment.body is missing")
        if _COMMENT_MARKER in comment["body"]:
            return Decision.skip("a comment the hub posted: not brought back", summary=summary)
    return Decision("update", external_id=f"{repo}#{issue['number']}", summary=summary)


def changes_for(payload: Mapping[str, Any], issue: IssueView, settings: GithubSettings) -> list[Change]:
    """The hub changes a mirrored delivery makes, each by ``github:<login>`` (never published back)."""
    actor = f"github:{_login(payload.get('sender')) or 'unknown'}"
    action = payload.get("action")
    comment = payload.get("comment")
    if isinstance(comment, Mapping) and isinstance(comment.get("body"), str):
        author = _login(comment.get("user")) or "unknown"
        text = comment["body"][:_MAX_COMMENT]
        return [Change("comment", text=text, key=f"github-comment:{comment.get('id')}", actor=f"github:{author}")]
    if action == "closed":
        return [Change("close", actor=actor)]
    if action == "reopened":
        return [Change("reopen", actor=actor)]
    login = _login(payload.get("assignee"))
    if login is None:
        return []
    agent = settings.issues.agent_for(login)
    if action == "assigned":
        if agent is not None:
            return [Change("assign", value=agent, actor=actor)]
        return [Change("comment", text=f"Assigned on GitHub to {escape_markdown(login)}, who has no hub agent in "
                                       f"[github.issues.assignees].", key=f"github-assigned:{login}", actor=actor)]
    if action == "unassigned" and agent is not None and issue.assignee == agent:
        return [Change("assign", value=None, actor=actor)]
    return []

