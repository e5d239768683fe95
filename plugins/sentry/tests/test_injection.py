"""Text from a payload cannot forge section markers, Markdown or HTML in what the hub writes."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from hub import IssueView
from hub.config import build_settings
from hub.sections import replace_section, section_markers

from hub_sentry import plugin
from hub_sentry.settings import CONFIG_SECTION
from sentry_fixtures import SEED_EXAMPLE

OPEN, CLOSE = section_markers("github")
FORGED = f"x {CLOSE}\n\n{OPEN}\n## Owned\n{CLOSE}\n{OPEN} y"
CONFIG = build_settings({}, [CONFIG_SECTION], env={})
CLOSED = IssueView(id="1", identifier="CHIPP-1", title="t", description="d", priority="P3", status="closed",
                   assignee=None, created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))


def with_text(payload: dict, value: str) -> dict:
    issue = payload["data"]["issue"]
    issue["metadata"].update(type=value, filename=value, function=value, value=value)
    issue["culprit"] = value
    issue["title"] = "T " + value
    issue["project"]["name"] = value
    return payload


def enriched_twice(description: str) -> str:
    once = replace_section(description, "github", "## Suspected Cause\n\nfirst")
    return replace_section(once, "github", "## Suspected Cause\n\nsecond")


def test_markers_in_the_error_type_file_function_and_culprit_cannot_cut_the_description(settings, seed_payload):
    description = plugin.build_issue(delivery=None, source="sentry", payload=with_text(seed_payload, FORGED),
                                     config=settings()).description
    after = enriched_twice(description)
    # Everything the description said is still there, and the section appears once, at the end.
    assert after.startswith(description.rstrip("\n"))
    assert after.count("## Suspected Cause") == 1 and after.rstrip().endswith("second\n" + CLOSE)
    assert "\n## Owned" not in after


MARKER_BITS = st.sampled_from([OPEN, CLOSE, "<!--", "-->", "hub:section", " github ", "/", "\n", "\r", "\u2028",
                               "`", "\\", "## ", "- ", "x"])


@hypothesis_settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(MARKER_BITS, st.text(max_size=5)), max_size=12).map("".join))
def test_no_payload_text_can_reach_a_marker_line(value):
    payload = with_text(copy.deepcopy(SEED_EXAMPLE), value)
    description = plugin.build_issue(delivery=None, source="sentry", payload=payload, config=CONFIG).description
    assert enriched_twice(description).startswith(description.rstrip("\n"))


def test_the_title_keeps_no_html_or_markdown(settings, seed_payload):
    seed_payload["data"]["issue"]["title"] = "<img src=x onerror=alert(1)> **bold** [link](http://e)\n# h"
    title = plugin.build_issue(delivery=None, source="sentry", payload=seed_payload, config=settings()).title
    assert title == "[chipp-admin] \\<img src=x onerror=alert(1)\\> \\*\\*bold\\*\\* \\[link\\](http://e) # h"


def test_the_regression_comment_shows_only_a_count_and_a_date(settings, seed_payload):
    issue = seed_payload["data"]["issue"]
    issue["lastSeen"] = "2024-12-13T15:45:00Z\n\n## Injected <script>"
    issue["count"] = "42 <img src=x>"
    issue["userCount"] = "7\n- forged"
    changes = plugin.external_update(delivery=None, source="sentry", payload=seed_payload, issue=CLOSED, config=settings())
    assert changes[-1].text == "Sentry: this error regressed after being marked as resolved."
    issue.update(lastSeen="2024-12-13T15:45:00+00:00", count=42, userCount="7")
    changes = plugin.external_update(delivery=None, source="sentry", payload=seed_payload, issue=CLOSED, config=settings())
    assert changes[-1].text == ("Sentry: this error regressed after being marked as resolved (42 events, 7 users); "
                                "last seen 2024-12-13T15:45:00+00:00.")
