"""Signed Sentry ``issue`` deliveries, built before the timed window.

The body is Sentry's own integration-platform example (``issue`` / ``created``) with another id;
only the id, the short id and the event count change between deliveries, so bodies are made by
joining byte pieces instead of encoding JSON again for every request. The count differs per
request, as in Sentry's later deliveries for one issue: Sentry signs only the body, so the hub
answers a body it has seen before as a replay, not as a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["PATH", "Delivery", "RequestMaker", "sentry_body", "sign"]

#: Where the hub serves Sentry; the baseline answers any POST path.
PATH = "/api/sentry/webhook"

# Sentry's example delivery (mocks-integration-platform-example/issue-created.json) with
# substatus "new", which is what Sentry sends for a first occurrence.
_PAYLOAD = {
    "action": "created",
    "data": {
        "issue": {
            "id": "@ID@",
            "shortId": "BENCH-@ID@",
            "title": "Error #1: This is a test error!",
            "culprit": "SentryCustomError(frontend/src/util)",
            "level": "error",
            "status": "unresolved",
            "substatus": "new",
            "statusDetails": {},
            "isPublic": False,
            "platform": "javascript",
            "project": {"id": "456", "name": "ipe", "slug": "ipe", "platform": "javascript-react"},
            "type": "error",
            "metadata": {
                "value": "This is a test error!",
                "type": "Another Error #1",
                "filename": "/frontend/src/util.ts",
                "function": "SentryCustomError",
                "display_title_with_tree_label": False,
            },
            "numComments": 0,
            "assignedTo": {"email": "person@example.com", "type": "user", "id": "789", "name": "Person"},
            "isBookmarked": False,
            "isSubscribed": False,
            "hasSeen": False,
            "isUnhandled": False,
            "count": "@COUNT@",
            "userCount": 1,
            "firstSeen": "2022-04-04T18:17:18.320000Z",
            "lastSeen": "2022-04-04T18:17:18.320000Z",
        }
    },
    "installation": {
        "app": {"uuid": "64bf2cf4-37ca-4365-8dd3-6b6e56d741b8", "slug": "app"},
        "organization": {"slug": "example"},
        "uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9",
    },
}
_FIRST_SEEN_TEXT = _PAYLOAD["data"]["issue"]["firstSeen"].encode()
_FIRST_SEEN = datetime.fromisoformat(_FIRST_SEEN_TEXT.decode().replace("Z", "+00:00"))
_BEFORE_COUNT, _AFTER_COUNT = json.dumps(_PAYLOAD, separators=(",", ":")).encode().split(b"@COUNT@")


def sentry_body(issue_id: str, count: int = 1) -> bytes:
    """The JSON body of a Sentry ``issue`` ``created`` delivery for the Sentry issue ``issue_id``,
    ``count`` events seen."""
    ident = issue_id.encode()
    return b"%s%d%s" % (_BEFORE_COUNT.replace(b"@ID@", ident), count, _AFTER_COUNT)


def sign(body: bytes, secret: bytes) -> str:
    """``Sentry-Hook-Signature``: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One Sentry issue's deliveries: the request line and fixed headers, and its body around
    the count (the signature and length follow the count, so they are made per request)."""

    head: bytes
    before_count: bytes
    after_count: bytes


class RequestMaker:
    """Turns pre-signed deliveries into HTTP/1.1 request bytes.

    Per request only a Request-ID (unique, so the hub's delivery log sees a new delivery each
    time, as with Sentry) and the current ``Sentry-Hook-Timestamp`` are formatted: the hub
    refuses timestamps older than five minutes, and a long run must not drift out of that.
    """

    def __init__(self, host: str, port: int, secret: str, request_ids: str) -> None:
        self.secret = secret.encode()
        self.host = f"{host}:{port}".encode()
        self.request_ids = request_ids.encode()
        # Counts start from the clock (µs), so that no two runs or processes send one body twice.
        self.count_base = time.time_ns() // 1000

    def delivery(self, issue_id: str, first_seen_after: int = 0) -> Delivery:
        """The deliveries for one Sentry issue id, first seen ``first_seen_after`` seconds after
        the example's firstSeen (the errors of one deploy appear over minutes, not at one instant)."""
        head = (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: " + self.host
                + b"\r\nContent-Type: application/json\r\nSentry-Hook-Resource: issue\r\n")
        after = _AFTER_COUNT
        if first_seen_after:  # firstSeen and lastSeen (one event so far) follow the count
            moved = _FIRST_SEEN + timedelta(seconds=first_seen_after)
            after = after.replace(_FIRST_SEEN_TEXT, moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode())
        return Delivery(head, _BEFORE_COUNT.replace(b"@ID@", issue_id.encode()), after)

    def request(self, delivery: Delivery, number: int) -> bytes:
        """The full request for ``delivery``, the ``number``-th of this load process."""
        body = b"%s%d%s" % (delivery.before_count, self.count_base + number, delivery.after_count)
        return b"%sSentry-Hook-Signature: %s\r\nContent-Length: %d\r\nRequest-ID: %s-%d\r\nSentry-Hook-Timestamp: %d\r\n\r\n%s" % (
            delivery.head, sign(body, self.secret).encode(), len(body), self.request_ids, number, int(time.time()),
            body)
