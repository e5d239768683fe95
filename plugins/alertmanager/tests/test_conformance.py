"""hub-alertmanager passes the hub's conformance suite for source plugins (hub.testing)."""

from __future__ import annotations

import json
from pathlib import Path

from hub.testing import SourceConformance

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "am-conformance-token-0123456789"


class TestAlertmanagerConformance(SourceConformance):
    source = "alertmanager"
    env = {"ALERTMANAGER_TOKEN": TOKEN}

    def delivery(self):
        return {"authorization": f"Bearer {TOKEN}"}, (FIXTURES / "firing.json").read_bytes()

    def skipped_delivery(self):
        payload = json.loads((FIXTURES / "firing.json").read_text())
        payload["alerts"] = []
        return {"authorization": f"Bearer {TOKEN}"}, json.dumps(payload).encode()

    def forged(self, headers, body):
        return {**headers, "authorization": "Bearer not-the-token"}
