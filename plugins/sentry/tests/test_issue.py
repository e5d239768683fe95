"""build_issue: title, priority, label, the description's golden text, link and stored metadata."""

from __future__ import annotations

import json

import pytest

from hub_sentry import plugin
from hub_sentry.description import code

from sentry_fixtures import load


def build(settings, payload, **kw):
    return plugin.build_issue(delivery=None, source="sentry", payload=payload, config=settings(**kw))


def test_hook_build_issue_writes_the_seed_example(settings, seed_payload, golden):
    draft = build(settings, seed_payload)
    assert draft.title == "[chipp-admin] TypeError: Cannot read property 'foo' of undefined"
    assert draft.description == golden("seed-regressed.md")
    assert draft.priority == "P1"
    assert [(label.name, label.color) for label in draft.labels] == [("Sentry", "#362D59")]
    assert draft.link.external_id == "12345"
    assert draft.link.external_url == "https://sentry.io/organizations/chipp/issues/12345/"
    assert draft.log_name == "Sentry CHIPP-ADMIN-1234"


def test_hook_build_issue_escalating_fixture_in_another_time_zone(settings, golden):
    draft = build(settings, load("issue-created-escalating.json"), timezone="America/New_York")
    assert draft.description == golden("escalating-fixture-new-york.md")
    assert draft.link.external_url is None  # no organisation anywhere: no link rather than a wrong one


def test_stored_metadata_is_exactly_the_seeds_object(settings, seed_payload):
    assert dict(build(settings, seed_payload).link.metadata) == {
        "shortId": "CHIPP-ADMIN-1234",
        "project": {"id": "123", "name": "chipp-admin", "slug": "chipp-admin", "platform": "javascript"},
        "substatus": "regressed",
        "priority": "high",
        "level": "error",
        "platform": "javascript",
    }


@pytest.mark.parametrize(("given", "expected"), [("high", "P1"), ("medium", "P2"), ("low", "P4"),
                                                 ("critical", "P3"), (None, "P3"), (3, "P3")])
def test_priority_map(settings, seed_payload, given, expected):
    seed_payload["data"]["issue"]["priority"] = given
    assert build(settings, seed_payload).priority == expected


def test_per_project_priority_override(settings, seed_payload):
    draft = build(settings, seed_payload, sentry={"projects": {"priority": {"chipp-admin": "P4"}}})
    assert draft.priority == "P4"


def test_absent_data_leaves_sections_and_lines_out(settings, seed_payload):
    issue = seed_payload["data"]["issue"]
    issue["metadata"] = {}
    issue["substatus"] = "new"
    for key in ("count", "userCount", "firstSeen", "lastSeen", "isUnhandled", "level"):
        issue.pop(key)
    description = build(settings, seed_payload).description
    assert "## Error" not in description and "## Location" not in description and "## Impact" not in description
    assert "**This error" not in description
    assert "Level" not in description and "Unhandled" not in description
    assert description.startswith("## Project\n\n- **Name:** chipp-admin\n- **Platform:** javascript\n\n## Links")


def test_garbage_counts_are_left_out(settings, seed_payload):
    seed_payload["data"]["issue"].update(count="lots", userCount=True, firstSeen="yesterday")
    description = build(settings, seed_payload).description
    assert "Events" not in description and "Users affected" not in description and "First seen" not in description
    assert "- **Last seen:** 12/13/2024, 3:45:00 PM (UTC)" in description


def test_markdown_in_user_text_cannot_break_the_layout(settings, seed_payload):
    meta = seed_payload["data"]["issue"]["metadata"]
    meta["value"] = "boom\n\n## Injected heading\n- [click](http://evil) *x* `y`"
    meta["type"] = "Weird`Type"
    meta["filename"] = "src/a``b.ts"
    description = build(settings, seed_payload).description
    assert "\n## Injected" not in description
    assert "**Message:** boom \\#\\# Injected heading" not in description  # '#' mid-line is harmless, kept
    assert "**Message:** boom ## Injected heading - \\[click\\](http://evil) \\*x\\* \\`y\\`" in description
    assert "**Type:** `` Weird`Type ``" in description
    assert "**File:** ``` src/a``b.ts ```" in description
    assert [line for line in description.splitlines() if line.startswith("## ")] == [
        "## Error", "## Location", "## Impact", "## Project", "## Links"]


def test_code_spans():
    assert code("plain") == "`plain`"
    assert code("a`b") == "`` a`b ``"
    assert code("two\nlines") == "`two lines`"


def test_unicode_round_trip_from_escaped_json(settings, seed_payload):
    seed_payload["data"]["issue"]["title"] = "Ошибка ☕ 🚀"
    seed_payload["data"]["issue"]["metadata"]["value"] = "naïve café"
    payload = json.loads(json.dumps(seed_payload, ensure_ascii=True))
    draft = build(settings, payload)
    assert draft.title == "[chipp-admin] Ошибка ☕ 🚀"
    assert "**Message:** naïve café" in draft.description


def test_link_prefers_the_payloads_own_url(settings, seed_payload):
    seed_payload["data"]["issue"]["permalink"] = "https://chipp.sentry.io/issues/12345/"
    assert build(settings, seed_payload).link.external_url == "https://chipp.sentry.io/issues/12345/"


def test_link_from_configured_organisation(settings, seed_payload):
    seed_payload.pop("installation")
    draft = build(settings, seed_payload, sentry={"organization": "acme", "web_url": "https://sentry.acme.dev/"})
    assert draft.link.external_url == "https://sentry.acme.dev/organizations/acme/issues/12345/"


def test_long_titles_are_cut(settings, seed_payload):
    seed_payload["data"]["issue"]["title"] = "x" * 2000
    title = build(settings, seed_payload).title
    assert len(title) == 500 and title.endswith("…")


def test_hook_build_issue_is_not_for_other_sources(settings, seed_payload):
    assert plugin.build_issue(delivery=None, source="echo", payload=seed_payload, config=settings()) is None
