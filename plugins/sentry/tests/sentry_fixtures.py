"""Data the Sentry plugin's unit tests share: fixture files, the seed's example delivery, the secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
SECRET = "sentry-client-secret-for-tests"

#: The seed document's example issue ("Example description"), as a webhook would carry it.
SEED_EXAMPLE = {
    "action": "unresolved",
    "data": {
        "issue": {
            "id": "12345",
            "shortId": "CHIPP-ADMIN-1234",
            "title": "TypeError: Cannot read property 'foo' of undefined",
            "culprit": None,
            "level": "error",
            "platform": "javascript",
            "priority": "high",
            "substatus": "regressed",
            "status": "unresolved",
            "project": {"id": "123", "name": "chipp-admin", "slug": "chipp-admin", "platform": "javascript"},
            "metadata": {"type": "TypeError", "value": "Cannot read property 'foo' of undefined",
                         "filename": "src/components/App.tsx", "function": "handleClick"},
            "count": "42",
            "userCount": 15,
            "isUnhandled": True,
            "firstSeen": "2024-12-01T10:30:00Z",
            "lastSeen": "2024-12-13T15:45:00Z",
        }
    },
    "installation": {"uuid": "x", "organization": {"slug": "chipp"}},
}


def load(name: str) -> Any:
    """A fixture file, parsed."""
    return json.loads((FIXTURES / name).read_text())


