"""Stack-trace file paths of a Sentry issue: from the delivery, and from Sentry's API when allowed.

Webhook frames are snake_case (``abs_path``, ``in_app``); the REST API's are camelCase
(``absPath``, ``inApp``). Sentry lists frames oldest call first, the crash last.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Iterable

import httpx

from hub_sentry.api import RateLimited, SentryApi, SentryError
from hub_sentry.payload import mapping, text
from hub_sentry.settings import SentrySettings

__all__ = ["MAX_FILES", "api_frames", "order_paths", "payload_frames"]

log = logging.getLogger("hub.sentry")
MAX_FILES = 25


def _frame(frame: Any, camel: bool) -> tuple[str, bool] | None:
    """(path, in_app) of one frame; the source-relative ``filename`` is preferred over a URL."""
    if not isinstance(frame, Mapping):
        return None
    filename = text(frame.get("filename"))
    absolute = text(frame.get("absPath" if camel else "abs_path"))
    path = filename if filename and filename not in ("<anonymous>", "[native code]") else absolute
    if not path:
        return None
    return path, frame.get("inApp" if camel else "in_app") is True


def _exception_frames(values: Any, camel: bool) -> list[tuple[str, bool]]:
    frames: list[tuple[str, bool]] = []
    for value in values if isinstance(values, list) else []:
        stacktrace = mapping(mapping(value).get("stacktrace"))
        raw = stacktrace.get("frames")
        for frame in raw if isinstance(raw, list) else []:
            if (parsed := _frame(frame, camel)) is not None:
                frames.append(parsed)
    return frames


def payload_frames(payload: Any) -> list[tuple[str, bool]]:
    """Frames carried by a delivery: ``error`` and ``event_alert`` resources carry the event."""
    data = mapping(mapping(payload).get("data"))
    frames: list[tuple[str, bool]] = []
    for key in ("error", "event"):
        event = mapping(data.get(key))
        frames += _exception_frames(mapping(event.get("exception")).get("values"), camel=False)
    return frames


def payload_filename(payload: Any) -> str | None:
    """``data.issue.metadata.filename``: the file Sentry names in the issue's metadata."""
    issue = mapping(mapping(mapping(payload).get("data")).get("issue"))
    return text(mapping(issue.get("metadata")).get("filename"))


async def api_frames(http: httpx.AsyncClient, settings: SentrySettings, issue_id: str) -> list[tuple[str, bool]]:
    """Frames of the issue's latest event from Sentry's API; [] without a token and organisation,
    or when Sentry refuses, fails or is not there (logged). A rate limit is not waited out here:
    :class:`RateLimited` is raised, with the wait Sentry names, for the caller to decide."""
    if not settings.api_ready:
        return []
    # max_wait 0: the worker retries the job at the time Sentry names instead of holding it.
    api = SentryApi(http, settings, max_wait=0)
    try:
        event = await api.latest_event(issue_id)
    except RateLimited:
        raise
    except SentryError as exc:
        log.warning("[Sentry] Latest event of issue %s not fetched: %s", issue_id, exc)
        return []
    entries = event.get("entries")
    frames: list[tuple[str, bool]] = []
    for entry in entries if isinstance(entries, list) else []:
        if mapping(entry).get("type") == "exception":
            frames += _exception_frames(mapping(entry.get("data")).get("values"), camel=True)
    return frames


def order_paths(frames: Iterable[tuple[str, bool]], extra: Iterable[str] = ()) -> list[str]:
    """In-app frames first, nearest the crash first, without duplicates, at most MAX_FILES.

    ``frames`` are in Sentry's order (crash last); ``extra`` paths (the metadata filename) follow
    the in-app frames.
    """
    nearest_first = list(frames)[::-1]
    in_app = [path for path, own in nearest_first if own]
    others = [path for path, own in nearest_first if not own]
    return list(dict.fromkeys([*in_app, *extra, *others]))[:MAX_FILES]
