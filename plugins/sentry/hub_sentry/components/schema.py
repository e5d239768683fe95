"""The schema to paste into the Sentry integration ("Schema" under the integration's settings).

Sentry appends each ``uri`` to the host of the integration's webhook URL, so the URIs are the
hub's paths, relative, with whatever prefix a proxy puts in front of ``/api/sentry/webhook``.
Element and field shapes are Sentry's (``src/sentry/sentry_apps/api/parsers/schema.py``):
``issue-link``, ``alert-rule-action`` with ``alert-rule-settings``, ``stacktrace-link``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from hub import CommandError

from hub_sentry.components.rule_settings import PRIORITIES

__all__ = ["PATHS", "WEBHOOK_PATH", "component_schema", "prefix_of", "schema_command"]

WEBHOOK_PATH = "/api/sentry/webhook"
#: Each component's path under ``/api/sentry/`` (hub_sentry.components.endpoints serves them).
PATHS = {
    "create": "issue-link/create",
    "link": "issue-link/link",
    "search": "issue-link/search",
    "alert_rule": "alert-rule-action",
    "stacktrace": "stacktrace-link",
}
_PRIORITY_NAMES = {"P0": "critical", "P1": "high", "P2": "medium", "P3": "normal", "P4": "low"}


def _priority_options(*, with_sentry: bool) -> list[list[str]]:
    options = [[priority, f"{priority} ({_PRIORITY_NAMES[priority]})"] for priority in PRIORITIES]
    return [["sentry", "As Sentry says"], *options] if with_sentry else options


def component_schema(prefix: str = "") -> dict[str, Any]:
    """The ``{"elements": [...]}`` schema, each ``uri`` under ``prefix`` (no trailing slash)."""
    uri = {key: f"{prefix}/api/sentry/{path}" for key, path in PATHS.items()}
    labels = {"type": "text", "name": "labels", "label": "Labels (comma-separated)"}
    assignee = {"type": "text", "name": "assignee", "label": "Assignee (hub name)"}
    return {"elements": [
        {
            "type": "issue-link",
            "create": {
                "uri": uri["create"],
                "required_fields": [{"type": "text", "name": "title", "label": "Title", "default": "issue.title"}],
                "optional_fields": [
                    {"type": "textarea", "name": "description", "label": "Description",
                     "default": "issue.description"},
                    {"type": "select", "name": "priority", "label": "Priority",
                     "options": _priority_options(with_sentry=False)},
                    assignee,
                    labels,
                ],
            },
            "link": {
                "uri": uri["link"],
                "required_fields": [{"type": "select", "name": "issue", "label": "Hub issue", "uri": uri["search"],
                                     "async": True}],
                "optional_fields": [{"type": "select", "name": "move", "label": "If linked to another hub issue",
                                     "options": [["no", "Keep that link"], ["yes", "Move the link to this issue"]]}],
            },
        },
        {
            "type": "alert-rule-action",
            "title": "Create a hub issue",
            "settings": {
                "type": "alert-rule-settings",
                "uri": uri["alert_rule"],
                "description": "Priority, assignee and labels of the hub issues this rule's alerts make.",
                "required_fields": [{"type": "select", "name": "priority", "label": "Priority",
                                     "options": _priority_options(with_sentry=True)}],
                "optional_fields": [
                    assignee,
                    labels,
                    {"type": "select", "name": "enrichment", "label": "Suspected cause (GitHub)",
                     "options": [["on", "Add it"], ["off", "Skip it"]]},
                ],
            },
        },
        {"type": "stacktrace-link", "uri": uri["stacktrace"]},
    ]}


def prefix_of(webhook_url: str | None) -> str:
    """The path in front of ``/api/sentry/webhook`` in the integration's webhook URL ('' for none)."""
    if not webhook_url:
        return ""
    parsed = urlparse(webhook_url.strip())
    path = parsed.path.rstrip("/")
    if parsed.scheme not in ("http", "https") or not parsed.netloc or not path.endswith(WEBHOOK_PATH):
        raise CommandError(f"--webhook-url must be the integration's webhook URL, ending in {WEBHOOK_PATH}")
    return path[: -len(WEBHOOK_PATH)]


def _arguments(parser: Any) -> None:
    parser.add_argument("--webhook-url", help="the integration's webhook URL, when a proxy serves the hub under a "
                                              "path (https://example.com/hub/api/sentry/webhook)")


def _run(args: Any) -> int:
    print(json.dumps(component_schema(prefix_of(getattr(args, "webhook_url", None))), indent=2))
    return 0


def schema_command() -> Any:
    """``hub sentry schema``: print the schema JSON."""
    from hub import Command

    return Command(group="sentry", name="schema", help="print the UI-component schema to paste into the integration",
                   run=_run, arguments=_arguments, group_help="Sentry: the integration's schema and more",
                   database=False)
