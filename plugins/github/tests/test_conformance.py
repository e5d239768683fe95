"""hub-github's webhook source passes the hub's conformance suite for source plugins (hub.testing).

It only brings changes back to issues the mirror linked (``creates = False``): a delivery about a
GitHub issue the hub never made is skipped, the same way every time.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from hub.testing import SourceConformance

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
SECRET = "github-conformance-secret-0123"


def _signed(body: bytes, event: str, secret: str = SECRET) -> dict[str, str]:
    return {"x-github-event": event, "x-github-delivery": hashlib.sha256(body).hexdigest()[:36],
            "x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


class TestGitHubConformance(SourceConformance):
    source = "github"
    env = {"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "ghp_conformanceTestToken0001"}
    config = {"github": {"issues": {"enabled": True, "repo": "Codertocat/Hello-World"}}}
    creates = False

    def delivery(self):
        body = (FIXTURES / "issues.closed.json").read_bytes()
        return _signed(body, "issues"), body

    def skipped_delivery(self):
        body = (FIXTURES / "ping.json").read_bytes()
        return _signed(body, "ping"), body

    def forged(self, headers, body):
        return {**headers, "x-hub-signature-256": "sha256=" + "0" * 64}
