"""Keyed sections inside an issue description, replaceable without ever appearing twice."""

from __future__ import annotations

import re

__all__ = ["replace_section"]


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- hub:section {key} -->", f"<!-- /hub:section {key} -->"


def replace_section(description: str, key: str, markdown: str) -> str:
    """Return ``description`` with the section ``key`` set to ``markdown`` (empty removes it).

    Sections are wrapped in HTML comments, invisible in rendered Markdown, so a re-run finds and
    replaces its own text instead of appending a second copy.
    """
    start, end = _markers(key)
    pattern = re.compile(r"\n*" + re.escape(start) + r".*?" + re.escape(end) + r"\n*", re.DOTALL)
    base = pattern.sub("\n\n", description).strip("\n")
    if not markdown.strip():
        return base + "\n" if base else ""
    block = f"{start}\n{markdown.strip()}\n{end}"
    return f"{base}\n\n{block}\n" if base else f"{block}\n"
