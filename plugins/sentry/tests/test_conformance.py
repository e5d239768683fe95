"""hub-sentry passes the hub's conformance suite for source plugins (hub.testing)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

from hub.testing import SourceConformance

MOCK = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "sentry" / "mocks-integration-platform-example"
SECRET = "sentry-conformance-secret-0123"


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"sentry-hook-resource": "issue", "sentry-hook-timestamp": str(int(time.time())),
            "sentry-hook-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "request-id": hashlib.sha256(body).hexdigest()[:32]}


class TestSentryConformance(SourceConformance):
    source = "sentry"
    env = {"SENTRY_CLIENT_SECRET": SECRET}

    def delivery(self):
        body = (MOCK / "issue-created.json").read_bytes()
        return _signed(body), body

    def skipped_delivery(self):
        payload = json.loads((MOCK / "issue-created.json").read_text())
        payload["action"] = "ignored"
        body = json.dumps(payload).encode()
        return _signed(body), body

    def forged(self, headers, body):
        return {**headers, "sentry-hook-signature": "0" * 64}
