"""Keeping secrets out of log lines, error messages and stored records."""

from __future__ import annotations

import logging
import re
from typing import Iterable

__all__ = ["RedactingFilter", "redact"]

MASK = "[redacted]"
#: The shape of the hub's API tokens (hub.auth.tokens): masked wherever one shows up, configured or not.
_API_TOKEN = re.compile(r"hub_[A-Za-z0-9_-]{43}")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a (non-trivial) secret, and anything shaped like an API token, in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _API_TOKEN.sub(MASK, text) if "hub_" in text else text


class RedactingFilter(logging.Filter):
    """A logging filter that masks the configured secrets (and API tokens) in every record it passes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, mask secrets in it, and let the record through."""
        message = record.getMessage()
        # Rendered once: the formatter takes the masked text as it is, without formatting again.
        record.msg, record.args = redact(message, self.secrets), None
        return True
