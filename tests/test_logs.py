"""hub.logs: one record is one line, whatever a payload put in the message."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from hub.logs import one_line, setup_logging
from support import sentry_headers, sentry_issue_body, SENTRY_SECRET

RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
FORGED = "resolved\n2026-01-01 00:00:00 ERROR hub.jobs Job 1 failed: forged\r\x1b[31m\u2028x"


@pytest.fixture
def hub_logging(monkeypatch):
    """The hub's own log setup, its stderr a buffer; the previous handlers after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    setup_logging("INFO", ["s3cr3t-value"])
    yield stderr.getvalue
    root.handlers[:], level = saved
    root.setLevel(level)


def test_one_line_escapes_every_control_character():
    assert one_line("a\nb\rc\td\x00e\x1bf\x85g\u2028h") == "a\\nb\\rc\\td\\x00e\\x1bf\\x85g\\u2028h"


def test_a_message_cannot_forge_a_record(hub_logging):
    logging.getLogger("hub.sentry").info("[Sentry Webhook] Skipping: action=%s, substatus=%s", FORGED, None)
    lines = hub_logging().splitlines()
    assert len(lines) == 1 and "action=resolved\\n2026-01-01 00:00:00 ERROR" in lines[0]


def test_a_traceback_keeps_its_lines_but_none_starts_a_record(hub_logging):
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("hub.jobs").exception("Job %s crashed", "1\n2026-01-01 00:00:00 INFO forged")
    lines = hub_logging().splitlines()
    assert len(lines) > 3 and RECORD_START.match(lines[0])
    assert all(line.startswith("    ") for line in lines[1:]), lines


async def test_a_delivery_cannot_forge_log_lines(hub_client, hub_logging):
    body = sentry_issue_body("77", action=FORGED)
    async with hub_client(env={"SENTRY_CLIENT_SECRET": SENTRY_SECRET}) as hc:
        answer = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert answer.status_code == 200
    err = hub_logging()
    assert "action=resolved\\n2026-01-01" in err
    assert all(RECORD_START.match(line) or line.startswith("    ") for line in err.splitlines() if line), err
