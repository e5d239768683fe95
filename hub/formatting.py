"""Text helpers shared by plugins that write Markdown for people."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

__all__ = ["escape_markdown", "format_datetime", "parse_datetime"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def parse_datetime(value: object) -> datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` or offset) into an aware datetime; None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_datetime(value: datetime, tz: ZoneInfo) -> str:
    """Format like JavaScript's en-US ``toLocaleString()``: ``12/1/2024, 10:30:00 AM``."""
    local = value.astimezone(tz)
    hour = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year}, {hour}:{local:%M:%S} {meridiem}"


def escape_markdown(text: str) -> str:
    """Escape Markdown syntax in user-controlled text and fold it onto one line.

    Error messages and titles come from the monitored application; a ``#`` or a newline in them
    must not start a heading or break a list in the description.
    """
    one_line = " ".join(text.split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)
