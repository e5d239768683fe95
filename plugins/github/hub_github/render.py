"""The "Suspected Cause" section, in the layout of the original chipp-issues integration."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hub import code_span, escape_markdown, format_datetime, safe_url

from hub_github.models import Commit, Correlation, Deployment

__all__ = ["FILES_SHOWN", "render_section"]

#: Files listed per commit; the files found in the stack trace are listed first.
FILES_SHOWN = 5


def render_section(correlation: Correlation, tz: ZoneInfo) -> str:
    """The section's Markdown; subsections with nothing to show are left out.

    Only called with at least one commit or deployment. The text depends on nothing but
    ``correlation`` and ``tz``, so a re-run writes the same section.
    """
    parts = ["## Suspected Cause"]
    if correlation.commits:
        items = [_commit(c, correlation.matches.get(c.sha, []), tz) for c in correlation.commits]
        parts += ["### Recent Commits",
                  "These commits were made shortly before the error first appeared:",
                  "\n".join(items)]
    if correlation.deployments:
        parts += ["### Recent Deployments", "\n".join(_deployment(d, tz) for d in correlation.deployments)]
    if correlation.stack_files:
        parts += ["### Files in Stack Trace Modified Recently",
                  "\n".join(f"- {code_span(path)}" for path in correlation.stack_files)]
    return "\n\n".join(parts) + "\n"


def _commit(commit: Commit, matched: list[str], tz: ZoneInfo) -> str:
    title = escape_markdown(commit.title) or "(no message)"
    lines = [
        f"- [{code_span(commit.sha[:7])}]({safe_url(commit.html_url)}) - {title}",
        f"  - **Author:** {escape_markdown(commit.author)}",
        f"  - **Date:** {format_datetime(commit.date, tz)}",
    ]
    if commit.files:
        lines.append(f"  - **Files:** {_files(commit, matched)}")
    return "\n".join(lines)


def _files(commit: Commit, matched: list[str]) -> str:
    ordered = [*matched, *(f for f in commit.files if f not in matched)]
    shown = ", ".join(escape_markdown(f) for f in ordered[:FILES_SHOWN])
    hidden = len(ordered) - FILES_SHOWN
    if not commit.files_complete:
        return f"{shown} (+{max(hidden, 0)} more, list truncated)"
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def _deployment(deployment: Deployment, tz: ZoneInfo) -> str:
    line = f"- **{escape_markdown(deployment.environment)}** - {code_span(deployment.sha[:7])}"
    # Deployments made from a sha name it as their ref too; repeating it says nothing.
    if deployment.ref and deployment.ref != deployment.sha:
        line += f" ({escape_markdown(deployment.ref)})"
    line += f" at {format_datetime(deployment.created_at, tz)}"
    if deployment.state:
        line += f" - {escape_markdown(deployment.state)}"
    return line

