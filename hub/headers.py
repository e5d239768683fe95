"""Which request headers the delivery log keeps: an allow-list, each value and the total capped.

Headers are whatever the sender chose to send, signed deliveries included (Sentry signs only the
body): storing them as they came wrote a 20 MB header into the delivery log. The log needs the
few headers that say what a delivery was and where it came from; nothing else is kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.types import Source

__all__ = ["ALLOWED", "MAX_TOTAL_CHARS", "MAX_VALUE_CHARS", "delivery_id", "is_secret", "source_headers",
           "stored_headers"]

#: Headers worth keeping, in the order they are kept (the total cap drops the last ones first).
ALLOWED: tuple[str, ...] = (
    "content-type",
    "content-length",
    "content-encoding",
    "user-agent",
    # Generic request ids that proxies and other senders add. A source's own headers (its
    # event name, its delivery id) come from its declaration: Source.kept_headers.
    "x-request-id",
    "x-correlation-id",
)
#: Tried after a source's own delivery-id headers (Source.delivery_id_headers).
GENERIC_DELIVERY_ID = "x-request-id"
#: Longest value kept; longer ones are cut and end in TRUNCATED.
MAX_VALUE_CHARS = 256
#: All kept names and values together.
MAX_TOTAL_CHARS = 2048
TRUNCATED = "…"
#: A header whose name contains one of these carries a credential or a signature: never kept,
#: even when a caller asks for it by name.
_SECRET_WORDS = ("signature", "authorization", "auth", "cookie", "token", "secret", "password", "key", "session")
#: Control characters (and U+0000, which PostgreSQL text cannot hold) never reach the log.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_secret(name: str) -> bool:
    """Whether a header name looks like it carries a credential or a signature."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _clean(value: str, limit: int) -> str:
    if not (value.isascii() and value.isprintable()):  # printable ASCII has nothing to replace
        value = _CONTROL.sub("?", value)
    return value if len(value) <= limit else value[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def delivery_id(headers: Mapping[str, str], source: "Source") -> str | None:
    """The source's id for this delivery: the first of its ``delivery_id_headers`` present, else
    ``x-request-id``; None when there is none. ``headers`` has lower-case names."""
    for name in source.delivery_id_headers:
        value = headers.get(name)
        if value:
            return value
    return headers.get(GENERIC_DELIVERY_ID) or None


def source_headers(headers: Mapping[str, str], source: "Source") -> dict[str, str]:
    """``stored_headers`` for a delivery of ``source``: its declared headers kept, its secret ones never."""
    return stored_headers(headers, (*source.delivery_id_headers, *source.kept_headers), source.secret_headers)


def stored_headers(headers: Mapping[str, str], extra_allowed: Iterable[str] = (),
                   secret: Iterable[str] = ()) -> dict[str, str]:
    """The headers of one delivery fit for the delivery log.

    Only ``ALLOWED`` names (and ``extra_allowed``, e.g. a source plugin's own), lower-cased, never
    one that looks like a secret; each value at most MAX_VALUE_CHARS with control characters
    replaced by ``?``; names and values together at most MAX_TOTAL_CHARS (headers past it are left
    out, the allow-list's order decides which). Names in ``secret`` are never kept.
    """
    wanted = _wanted(tuple(extra_allowed), tuple(secret))
    present = {str(name).lower(): value for name, value in headers.items()}
    kept: dict[str, str] = {}
    total = 0
    for name in wanted:
        value = present.get(name)
        if value is None:
            continue
        value = _clean(value if isinstance(value, str) else str(value), MAX_VALUE_CHARS)
        if total + len(name) + len(value) > MAX_TOTAL_CHARS:
            continue
        kept[name] = value
        total += len(name) + len(value)
    return kept


@functools.lru_cache(maxsize=256)
def _wanted(extra_allowed: tuple[str, ...], secret: tuple[str, ...]) -> tuple[str, ...]:
    """The names to keep, in order, none twice, none secret: worked out once per source, not per delivery."""
    refused = {name.lower() for name in secret}
    names = (*ALLOWED, *(name.lower() for name in extra_allowed))
    return tuple(name for name in dict.fromkeys(names) if name not in refused and not is_secret(name))
