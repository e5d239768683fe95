"""Sentry's webhook signature: HMAC-SHA256 of the raw body with the client secret, hex."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time

__all__ = ["check_signature", "check_timestamp"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def check_signature(body: bytes, signature: str | None, secret: str,
                    header: str = "Sentry-Hook-Signature") -> str | None:
    """Return None when ``signature`` (from ``header``) signs ``body``, else why not.

    Webhooks carry it in ``Sentry-Hook-Signature``; the requests of Sentry's UI components
    (issue link, async select, alert-rule settings) in ``Sentry-App-Signature``, the same HMAC.

    Compared in constant time. Unlike Node's ``timingSafeEqual``, a signature of the wrong
    length or with non-hex characters is a plain mismatch, never an exception. Hex case is
    ignored (Sentry sends lowercase).
    """
    if not signature:
        return f"missing {header} header"
    signature = signature.strip()
    if not _HEX64.fullmatch(signature):
        return f"malformed {header} (expected 64 hex characters)"
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        return "invalid signature"
    return None


def check_timestamp(value: str | None, max_skew_seconds: int, now: float | None = None) -> str | None:
    """Return None when ``Sentry-Hook-Timestamp`` is within ``max_skew_seconds`` of now, else why not.

    ``max_skew_seconds`` 0 turns the check off. Old deliveries replayed by someone who captured
    them are refused this way (the Request-ID check catches recent ones).
    """
    if max_skew_seconds == 0:
        return None
    if not value:
        return "missing Sentry-Hook-Timestamp header"
    try:
        sent = float(value.strip())
    except ValueError:
        return "malformed Sentry-Hook-Timestamp"
    if not math.isfinite(sent):
        return "malformed Sentry-Hook-Timestamp"
    skew = abs((time.time() if now is None else now) - sent)
    if skew > max_skew_seconds:
        return f"Sentry-Hook-Timestamp is {int(skew)} seconds off (allowed: {max_skew_seconds})"
    return None
