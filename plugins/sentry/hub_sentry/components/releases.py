"""The commit of a Sentry project's newest release, for the stack-trace link.

Sentry's stack-trace link names the project, file and line, not the event's release, so the
commit the hub can know is the project's newest release's:
``GET {api_url}/api/0/projects/{org}/{project}/releases/?per_page=1`` (Sentry's
``ProjectReleasesEndpoint``, newest first), its ``lastCommit.id``, else a ``ref`` or the
version's ``buildHash`` that is a commit hash. Kept in the shared cache for a few minutes (a
person clicks through several frames); without a token, on any failure (Sentry's rate limit
included: it is never waited out, a browser is waiting) or when the release names no commit:
None, and the link goes to the default branch.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hub_sentry.api import SentryApi, SentryError
from hub_sentry.payload import mapping, text
from hub_sentry.settings import SentrySettings

__all__ = ["release_commit"]

log = logging.getLogger("hub.sentry")

_SHA = re.compile(r"[0-9a-f]{7,40}")
CACHE_NAMESPACE = "sentry:release-commit"
CACHE_SECONDS = 300
#: A browser is waiting on the redirect: Sentry's API gets this long, then the default branch it is.
TIMEOUT_SECONDS = 2.0


def _commit_of(release: Any) -> str | None:
    release = mapping(release)
    candidates = (text(mapping(release.get("lastCommit")).get("id")), text(release.get("ref")),
                  text(mapping(release.get("versionInfo")).get("buildHash")))
    return next((value.lower() for value in candidates if value and _SHA.fullmatch(value.lower())), None)


async def release_commit(context: Any, settings: SentrySettings, project: str | None) -> str | None:
    """The newest release's commit of ``project``, or None (no token, no release, no commit named,
    or Sentry failing, slow or rate limited: a browser is waiting, so nothing is waited out)."""
    if project is None or not settings.api_ready:
        return None
    cached = await context.cache.get(CACHE_NAMESPACE, project)
    if cached is not None:
        return cached.get("commit")
    api = SentryApi(context.http, settings, max_wait=0)
    try:
        release = await api.newest_release(project, timeout=TIMEOUT_SECONDS)
    except SentryError as error:
        # Not cached: the next click asks again, once Sentry is back or the limit has passed.
        log.warning("[Sentry] Newest release of %s not fetched: %s", project, error)
        return None
    commit = _commit_of(release)  # None for no release too
    await context.cache.set(CACHE_NAMESPACE, project, {"commit": commit}, ttl_seconds=CACHE_SECONDS)
    return commit
