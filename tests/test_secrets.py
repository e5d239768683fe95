"""Secrets never reach a log line, an answer, the delivery log or the API."""

from __future__ import annotations

import json
import logging
import time

import httpx
import sqlalchemy as sa

from hub.models import Delivery, Job
from support import FIXTURES, sign

CLIENT_SECRET = "whsec-client-secret-5f1d2c"
GITHUB_TOKEN = "ghp_secretTokenValue9876"
AUTH_TOKEN = "sntrys_authTokenValue1234"
SECRETS = (CLIENT_SECRET, GITHUB_TOKEN, AUTH_TOKEN)
ENV = {"SENTRY_CLIENT_SECRET": CLIENT_SECRET, "GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_REPO": "acme/app",
       "SENTRY_AUTH_TOKEN": AUTH_TOKEN, "SENTRY_ORG": "acme"}


def leaking_upstream(request: httpx.Request) -> httpx.Response:
    # A hostile or buggy upstream that echoes the credentials it was sent into its error.
    return httpx.Response(500, json={"message": f"boom {request.headers.get('authorization')}"})


async def test_secrets_stay_out_of_logs_answers_deliveries_and_the_api(hub_client, caplog):
    from hub.jobs import Worker
    from hub.logs import setup_logging

    raw_payload = (FIXTURES / "sentry" / "mocks-integration-platform-example" / "issue-created.json").read_bytes()
    raw = {"worker": {"max_attempts": 1}}
    async with hub_client(raw=raw, env=ENV, transport=httpx.MockTransport(leaking_upstream)) as hc:
        handler_output = []

        class Capture(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                handler_output.append(self.format(record))

        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        setup_logging("DEBUG", hc.hub.settings.secrets)
        capture = Capture()
        capture.setFormatter(logging.Formatter("%(message)s"))
        for existing in logging.getLogger().handlers:
            for flt in existing.filters:
                capture.addFilter(flt)
        logging.getLogger().addHandler(capture)
        try:
            headers = {"content-type": "application/json", "sentry-hook-resource": "issue",
                       "sentry-hook-signature": sign(raw_payload, CLIENT_SECRET),
                       "sentry-hook-timestamp": str(int(time.time())),
                       "authorization": f"Bearer {GITHUB_TOKEN}", "request-id": "r-1"}
            answers = [await hc.client.post("/api/sentry/webhook", content=raw_payload, headers=headers)]
            bad = dict(headers, **{"sentry-hook-signature": "0" * 64, "request-id": "r-2"})
            answers.append(await hc.client.post("/api/sentry/webhook", content=raw_payload, headers=bad))
            await Worker(hc.hub).run_due()
            logging.getLogger("test").error("a plugin logs %s by mistake", GITHUB_TOKEN)
            api = [(await hc.client.get(path)).text for path in ("/api/issues", "/api/issues/CHIPP-1", "/schema/openapi.json")]
            async with hc.hub.engine.connect() as connection:
                deliveries = [dict(row) for row in (await connection.execute(sa.select(Delivery.__table__))).mappings()]
                jobs = [dict(row) for row in (await connection.execute(sa.select(Job.__table__))).mappings()]
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)
    assert [a.status_code for a in answers] == [200, 401]
    # A 500 is an outage: the job waits (not failed), and its stored error is masked all the same.
    assert jobs[0]["status"] == "queued" and jobs[0]["last_error"].startswith("outage #1: ")
    assert "[redacted]" in jobs[0]["last_error"]
    assert "a plugin logs [redacted] by mistake" in handler_output
    stored = json.dumps(deliveries, default=str)
    assert "sentry-hook-signature" not in stored and "authorization" not in stored
    everything = "\n".join([*handler_output, *(a.text for a in answers), *api, stored, json.dumps(jobs, default=str)])
    for secret in SECRETS:
        assert secret not in everything
