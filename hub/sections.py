"""Keyed sections inside an issue description, replaceable without ever appearing twice.

A section is wrapped in two HTML comments (invisible in rendered Markdown), each alone on its own
line. Only such whole lines count as markers: text from a payload is always written inline
(``hub.formatting`` folds it onto one line after a label), so a marker quoted in an error type,
a file name or a culprit can neither open nor close a section. A section's own Markdown cannot
carry a marker line either: one is escaped before it is written.
"""

from __future__ import annotations

import re

__all__ = ["replace_section", "section_markers"]

_MARKER_LINE = re.compile(r"^(\s*)(<!--\s*/?\s*hub:section\b)", re.MULTILINE | re.IGNORECASE)


def section_markers(key: str) -> tuple[str, str]:
    """The opening and closing marker lines of section ``key``."""
    return f"<!-- hub:section {key} -->", f"<!-- /hub:section {key} -->"


def _neutralised(markdown: str) -> str:
    """``markdown`` with any line that looks like a section marker escaped (it renders the same)."""
    return _MARKER_LINE.sub(lambda match: match.group(1) + "\\" + match.group(2), markdown)


def replace_section(description: str, key: str, markdown: str) -> str:
    """Return ``description`` with the section ``key`` set to ``markdown`` (empty removes it).

    A re-run finds and replaces its own text instead of appending a second copy.
    """
    start, end = section_markers(key)
    pattern = re.compile(r"\n*^" + re.escape(start) + r"[ \t]*\n.*?^" + re.escape(end) + r"[ \t]*$\n*",
                         re.DOTALL | re.MULTILINE)
    base = pattern.sub("\n\n", description).strip("\n")
    if not markdown.strip():
        return base + "\n" if base else ""
    block = f"{start}\n{_neutralised(markdown.strip())}\n{end}"
    return f"{base}\n\n{block}\n" if base else f"{block}\n"
