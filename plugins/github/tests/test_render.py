"""Rendering details the recordings do not exercise: escaping, empty messages, odd file names."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hub_github.models import Commit, Correlation, Deployment
from hub_github.render import render_section

WHEN = datetime(2024, 12, 13, 10, 30, tzinfo=timezone.utc)


def test_user_text_is_escaped_and_folded_to_one_line():
    commit = Commit(sha="abc1234def", html_url="https://github.com/o/r/commit/abc1234def",
                    title="fix: *all* the [things]", author="dependabot[bot]", date=WHEN,
                    files=("src/__init__.py", "docs/a`b.md"))
    found = Correlation(commits=[commit], matches={"abc1234def": ["docs/a`b.md"]},
                        stack_files=["docs/a`b.md"],
                        deployments=[Deployment(environment="prod_eu", sha="abc1234def",
                                                ref="feature/x_y", created_at=WHEN)])
    text = render_section(found, ZoneInfo("America/New_York"))
    assert "- [`abc1234`](https://github.com/o/r/commit/abc1234def) - fix: \\*all\\* the \\[things\\]" in text
    assert "  - **Author:** dependabot\\[bot\\]\n" in text
    assert "  - **Date:** 12/13/2024, 5:30:00 AM\n" in text
    assert "  - **Files:** docs/a\\`b.md, src/\\_\\_init\\_\\_.py\n" in text
    assert "- **prod\\_eu** - `abc1234` (feature/x\\_y) at 12/13/2024, 5:30:00 AM\n" in text
    assert text.endswith("### Files in Stack Trace Modified Recently\n\n- `` docs/a`b.md ``\n")


def test_a_commit_without_message_or_files_keeps_its_shape():
    commit = Commit(sha="abc1234def", html_url="https://github.com/o/r/commit/abc1234def", title="",
                    author="A", date=WHEN, files=())
    text = render_section(Correlation(commits=[commit]), ZoneInfo("UTC"))
    assert text == (
        "## Suspected Cause\n\n### Recent Commits\n\n"
        "These commits were made shortly before the error first appeared:\n\n"
        "- [`abc1234`](https://github.com/o/r/commit/abc1234def) - (no message)\n"
        "  - **Author:** A\n"
        "  - **Date:** 12/13/2024, 10:30:00 AM\n"
    )
