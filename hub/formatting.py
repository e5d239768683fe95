"""Text helpers shared by plugins that write Markdown for people."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

__all__ = ["clean_text", "code_span", "escape_markdown", "format_datetime", "parse_datetime", "safe_url"]

#: Markdown's special characters, each escaped with a backslash: str.translate does it in C
#: (re.sub with a template expanded it in Python for every match; seen in the bench's profile).
_MARKDOWN_ESCAPES = {ord(char): "\\" + char for char in "\\`*_[]<>|~&"}
#: What would start a block (heading, list, quote, rule) if it began a line.
_BLOCK_START = re.compile(r"^([#+=-]|\d+(?=[.)]))")
#: Control characters that are not whitespace, and lone surrogates (no encoding can carry them).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")


#: Dates outside these years are not understood: ``9999-12-31T23:59:59-12:00`` cannot even be
#: converted to UTC, and a window computed around year 1 or 9999 overflows.
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000


def parse_datetime(value: object) -> datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` or offset) into an aware datetime; None if unusable.

    Unusable: not a string, not ISO-8601, or outside EARLIEST_YEAR..LATEST_YEAR once in UTC.
    """
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        in_utc = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return parsed if EARLIEST_YEAR <= in_utc.year <= LATEST_YEAR else None


def format_datetime(value: datetime, tz: ZoneInfo) -> str:
    """Format like JavaScript's en-US ``toLocaleString()``: ``12/1/2024, 10:30:00 AM``."""
    local = value.astimezone(tz)
    hour = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year}, {hour}:{local:%M:%S} {meridiem}"


def clean_text(text: object) -> str:
    """``text`` on one line: whitespace runs (newlines included) folded to one space, other control
    characters and lone surrogates replaced by U+FFFD. Anything not a string is shown as ``str()``."""
    return _UNPRINTABLE.sub("\ufffd", " ".join(str(text).split()))


def escape_markdown(text: object) -> str:
    """Text from outside (a payload, an API) as inline Markdown that renders as exactly that text.

    The one escaping helper for text that lands in Markdown: error messages, titles, names, dates
    and counts from a payload all go through it (or through ``code_span`` / ``safe_url``). The
    result is on one line, so a ``#``, a list marker or a section marker in it can never start a
    line; every character Markdown or HTML could act on is backslash-escaped.
    """
    escaped = clean_text(text).translate(_MARKDOWN_ESCAPES)
    return _BLOCK_START.sub(lambda match: "\\" + match.group() if match.group()[0] in "#+=-" else match.group() + "\\",
                            escaped)


def code_span(text: object) -> str:
    """``text`` as an inline code span that no backtick or newline in it can break."""
    value = clean_text(text)
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or longest else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def safe_url(url: str) -> str:
    """A URL fit for ``[text](url)``: characters that would end the link are percent-encoded."""
    return re.sub(r"[\s()<>\[\]`\\\x00-\x1f\x7f]", lambda match: f"%{ord(match.group()):02X}",
                  clean_text(url).strip())
