"""Keeping secrets out of log lines, error messages and stored records."""

from __future__ import annotations

import logging
from typing import Iterable

__all__ = ["RedactingFilter", "redact"]

MASK = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a (non-trivial) secret in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks the configured secrets in every record it passes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, mask secrets in it, and let the record through."""
        if self.secrets:
            message = record.getMessage()
            masked = redact(message, self.secrets)
            if masked != message:
                record.msg, record.args = masked, None
        return True
