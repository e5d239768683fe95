"""Readable one-line logs: ``2026-11-28 14:05:01 INFO  hub.webhook [Sentry Webhook] Created issue CHIPP-5 ...``."""

from __future__ import annotations

import logging
import sys
from typing import Iterable

from hub.redact import RedactingFilter

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)-5s %(name)s %(message)s"


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send one-line records to stderr, masking the configured secrets in every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
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
