"""Checking the credential Alertmanager's ``http_config`` sends: a bearer token or basic auth."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Mapping

from hub_alertmanager.settings import AlertmanagerSettings

__all__ = ["check_authorization"]


def _same(given: str, expected: str) -> bool:
    # compare_digest on bytes: constant time whatever the characters (str needs ASCII).
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def check_authorization(headers: Mapping[str, str], settings: AlertmanagerSettings) -> str | None:
    """None when the Authorization header carries a configured credential, else why not."""
    header = headers.get("authorization") or ""
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if settings.token is not None and scheme == "bearer":
        # Both credentials are checked when both are configured, so timing says nothing of which.
        return None if _same(credentials, settings.token.get_secret_value()) else "invalid bearer token"
    if settings.username is not None and settings.password is not None and scheme == "basic":
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "malformed basic credentials"
        ok_user = _same(user, settings.username)
        ok_password = _same(password, settings.password.get_secret_value())
        return None if ok_user and ok_password else "invalid basic credentials"
    return "missing credentials (Authorization: Bearer or Basic)"
