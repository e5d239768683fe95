"""verify_webhook: HMAC over the raw bytes, constant-time, never an exception; the timestamp window."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from hub_sentry import plugin
from hub_sentry.signature import check_signature, check_timestamp

from sentry_fixtures import SECRET

BODY = b'{"action": "created", "data": {"issue": {"title": "caf\\u00e9"}}}'
GOOD = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def verify(settings, headers, body=BODY, env=None, **sentry):
    config = settings(sentry=sentry or None, env={"SENTRY_CLIENT_SECRET": SECRET} if env is None else env)
    return plugin.verify_webhook(source="sentry", headers=headers, body=body, config=config)


def now() -> str:
    return str(int(time.time()))


def test_hook_verify_webhook_accepts_the_signature_of_the_raw_bytes(settings):
    verdict = verify(settings, {"sentry-hook-signature": GOOD, "sentry-hook-timestamp": now()})
    assert verdict.ok and verdict.reason == ""


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing Sentry-Hook-Signature header"),
        ("", "missing Sentry-Hook-Signature header"),
        (GOOD[:-2], "malformed Sentry-Hook-Signature (expected 64 hex characters)"),
        (GOOD + "00", "malformed Sentry-Hook-Signature (expected 64 hex characters)"),
        ("g" * 64, "malformed Sentry-Hook-Signature (expected 64 hex characters)"),
        ("sha256=" + GOOD, "malformed Sentry-Hook-Signature (expected 64 hex characters)"),
        ("0" * 64, "invalid signature"),
        (hmac.new(b"other", BODY, hashlib.sha256).hexdigest(), "invalid signature"),
    ],
    ids=["missing", "empty", "short", "long", "non-hex", "prefixed", "zeros", "other-secret"],
)
def test_hook_verify_webhook_refuses_bad_signatures_without_raising(settings, signature, reason):
    headers = {"sentry-hook-timestamp": now()}
    if signature is not None:
        headers["sentry-hook-signature"] = signature
    verdict = verify(settings, headers)
    assert (verdict.ok, verdict.reason) == (False, reason)
    assert SECRET not in verdict.reason


def test_reserialised_json_does_not_verify():
    import json

    # A framework that hands over parsed JSON and re-encodes it (real characters, compact) breaks it.
    reencoded = json.dumps(json.loads(BODY), ensure_ascii=False, separators=(",", ":")).encode()
    assert check_signature(reencoded, GOOD, SECRET) == "invalid signature"
    assert check_signature(BODY, GOOD, SECRET) is None


def test_uppercase_hex_is_the_same_signature():
    assert check_signature(BODY, GOOD.upper(), SECRET) is None


def test_hook_verify_webhook_without_a_secret_is_skipped(settings):
    verdict = verify(settings, {}, env={})
    assert verdict.ok and verdict.reason == "signature verification disabled"


def test_hook_verify_webhook_is_not_for_other_sources(settings):
    config = settings(env={"SENTRY_CLIENT_SECRET": SECRET})
    assert plugin.verify_webhook(source="github", headers={}, body=BODY, config=config) is None


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(0, None), (299, None), (-299, None), (301, "seconds off (allowed: 300)"), (-3600, "seconds off (allowed: 300)")],
)
def test_timestamp_window(offset, reason):
    result = check_timestamp(str(1_700_000_000 + offset), 300, now=1_700_000_000)
    assert result == reason if reason is None else reason in result


@pytest.mark.parametrize("value", [None, "", "yesterday", "nan", "inf", "1e400"])
def test_bad_timestamps_are_refused(value):
    assert check_timestamp(value, 300, now=1_700_000_000) is not None


def test_timestamp_check_can_be_turned_off(settings):
    verdict = verify(settings, {"sentry-hook-signature": GOOD}, max_timestamp_skew_seconds=0)
    assert verdict.ok
    stale = verify(settings, {"sentry-hook-signature": GOOD, "sentry-hook-timestamp": "1000"})
    assert not stale.ok and "seconds off" in stale.reason
