"""The issue description, in the seed's layout. Sections without data are left out."""

from __future__ import annotations

from typing import Any, Mapping
from zoneinfo import ZoneInfo

from hub import code_span as code
from hub import escape_markdown, format_datetime, parse_datetime, safe_url

from hub_sentry.payload import IssuePayload, mapping, text

__all__ = ["HEADERS", "code", "count_text", "describe", "safe_url"]

HEADERS = {
    "regressed": "**This error has regressed after being marked as resolved.**",
    "escalating": "**This error is escalating: it is happening much more often than usual.**",
}


def count_text(value: Any) -> str | None:
    """Sentry's ``count`` is a string ("42"); userCount an integer. Anything else is left out."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return value.strip()
    return None


def _seen(value: Any, tz: ZoneInfo) -> str | None:
    moment = parse_datetime(value)
    return f"{format_datetime(moment, tz)} ({tz.key})" if moment else None


def _section(title: str, lines: list[str]) -> str | None:
    return f"## {title}\n\n" + "\n".join(lines) if lines else None


def describe(parsed: IssuePayload, web_url: str | None, tz: ZoneInfo) -> str:
    """The Markdown description of a Sentry issue, exactly in the seed's layout."""
    issue = parsed.issue
    meta: Mapping[str, Any] = mapping(issue.get("metadata"))
    project = parsed.project
    blocks: list[str | None] = [HEADERS.get(parsed.substatus or "")]

    error = []
    if kind := text(meta.get("type")):
        error.append(f"**Type:** {code(kind)}")
    if message := text(meta.get("value")):
        error.append(f"**Message:** {escape_markdown(message)}")
    blocks.append(_section("Error", error))

    location = []
    if filename := text(meta.get("filename")):
        location.append(f"**File:** {code(filename)}")
    if function := text(meta.get("function")):
        location.append(f"**Function:** {code(function)}")
    if culprit := text(issue.get("culprit")):
        location.append(f"**Culprit:** {code(culprit)}")
    blocks.append(_section("Location", location))

    impact = []
    if (events := count_text(issue.get("count"))) is not None:
        impact.append(f"- **Events:** {events}")
    if (users := count_text(issue.get("userCount"))) is not None:
        impact.append(f"- **Users affected:** {users}")
    if first := _seen(issue.get("firstSeen"), tz):
        impact.append(f"- **First seen:** {first}")
    if last := _seen(issue.get("lastSeen"), tz):
        impact.append(f"- **Last seen:** {last}")
    blocks.append(_section("Impact", impact))

    about = []
    if name := text(project.get("name")):
        about.append(f"- **Name:** {escape_markdown(name)}")
    if platform := text(issue.get("platform")) or text(project.get("platform")):
        about.append(f"- **Platform:** {escape_markdown(platform)}")
    if level := text(issue.get("level")):
        about.append(f"- **Level:** {escape_markdown(level)}")
    if isinstance(issue.get("isUnhandled"), bool):
        about.append(f"- **Unhandled:** {'Yes' if issue['isUnhandled'] else 'No'}")
    blocks.append(_section("Project", about))

    links = []
    if web_url:
        links.append(f"- [View in Sentry]({safe_url(web_url)})")
    if parsed.short_id:
        links.append(f"- Sentry ID: {code(parsed.short_id)}")
    blocks.append(_section("Links", links))
    return "\n\n".join(block for block in blocks if block) + "\n"
