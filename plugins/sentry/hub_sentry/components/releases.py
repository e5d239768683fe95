"""The commit of a Sentry project's newest release, for the stack-trace link.

Sentry's stack-trace link names the project, file and line, not the event's release, so the
commit the hub can know is the project's newest release's:
``GET {api_url}/api/0/projects/{org}/{project}/releases/?per_page=1`` (Sentry's
``ProjectReleasesEndpoint``, newest first), its ``lastCommit.id``, else a ``ref`` or the
version's ``buildHash`` that is a commit hash. Kept in the shared cache for a few minutes (a
person clicks through several frames); without a token, on any failure or when the release
names no commit: None, and the link goes to the default branch.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

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
    """The newest release's commit of ``project``, or None (no token, no release, no commit named)."""
    if project is None or settings.auth_token is None or not settings.organization:
        return None
    cached = await context.cache.get(CACHE_NAMESPACE, project)
    if cached is not None:
        return cached.get("commit")
    url = (f"{settings.api_url}/api/0/projects/{quote(settings.organization, safe='')}"
           f"/{quote(project, safe='')}/releases/")
    try:
        response = await context.http.get(url, params={"per_page": 1}, timeout=TIMEOUT_SECONDS,
                                          headers={"Authorization": f"Bearer {settings.auth_token.get_secret_value()}"})
        releases = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as error:
        log.warning("[Sentry] Newest release of %s not fetched: %s", project, type(error).__name__)
        return None
    if response.status_code != 200:
        log.warning("[Sentry] Newest release of %s not fetched: HTTP %d", project, response.status_code)
        return None
    commit = _commit_of(releases[0]) if isinstance(releases, list) and releases else None
    await context.cache.set(CACHE_NAMESPACE, project, {"commit": commit}, ttl_seconds=CACHE_SECONDS)
    return commit
