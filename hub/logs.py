"""Readable one-line logs: ``2026-11-28 14:05:01 INFO  hub.webhook [Sentry Webhook] Created issue CHIPP-5 ...``;
or, with ``[hub] log_format = "json"``, one JSON object per line for log collectors (Loki, Elastic)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable

from hub.redact import RedactingFilter

__all__ = ["JsonFormatter", "OneLineFormatter", "one_line", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)-5s %(name)s %(message)s"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with CR, LF and every other control character (and Unicode line separators)
    written as escapes: ``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u2028``."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group()) or (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                           else f"\\u{ord(m.group()):04x}"), text)


class OneLineFormatter(logging.Formatter):
    """One record, one line: nothing in a message (a payload's ``action``, a ``shortId``) can start a
    line of its own that reads like another record.

    The message is escaped whatever a caller passed in it; a traceback keeps its lines but each is
    indented, so only a record's own first line ever starts at column 0.
    """

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """``asctime``, worked out once a second (records of one second share it)."""
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, super().formatTime(record, datefmt))
        return self._second[1]

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line, its message escaped."""
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        """The traceback, every line indented."""
        return "\n".join("    " + line for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        """The stack, every line indented."""
        return "\n".join("    " + line for line in super().formatStack(stack_info).splitlines())


class JsonFormatter(logging.Formatter):
    """One record, one JSON object on one line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, and ``exception`` when there is one. ``json.dumps`` escapes every control
    character, so no message can break the line; the redaction filter has run before."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII only: line separators (U+2028) and lone surrogates are escaped too.
        return json.dumps(entry)


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), log_format: str = "text") -> None:
    """Send records to stderr, one line each (``text`` or ``json``), masking the configured secrets."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else OneLineFormatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One line per request from the server is enough; its own error lines still come through.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # FORMAT uses none of the caller's file and line, thread or process: don't look them up for
    # every record (the logging docs' "Optimization" advice; two records per delivery).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
