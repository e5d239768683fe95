"""GitHub plugin hooks: a "Suspected Cause" section from the commits and deployments before an error."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from hub import ConfigSection, IssueView, LinkView, Section, hookimpl
from hub.cache import Cache
from hub.config import Settings

from hub_github.client import GitHubClient
from hub_github.correlate import Window, api_time, correlate
from hub_github.render import render_section
from hub_github.settings import CONFIG_SECTION, GithubSettings

log = logging.getLogger("hub.github")

SECTION_KEY = "suspected-cause"


@hookimpl
def register_config() -> ConfigSection:
    """``[github]`` (and ``[github.repos]``), with GITHUB_TOKEN, GITHUB_REPO and GITHUB_API_URL."""
    return CONFIG_SECTION


@hookimpl
def check_config(config: Settings) -> list[str]:
    """Never fatal: without a token or a repository the correlation is simply off; say so once."""
    settings: GithubSettings = config.plugin("github")
    has_token = settings.token is not None
    has_repo = bool(settings.repo or settings.repos)
    if not has_token and not has_repo:
        log.info("[GitHub] Correlation is off: set GITHUB_TOKEN and GITHUB_REPO (or [github] repo) "
                 "to enable it")
    elif not has_token:
        log.warning("[GitHub] Correlation is off: GITHUB_TOKEN is not set")
    elif not has_repo:
        log.warning("[GitHub] Correlation is off: no repository (set GITHUB_REPO, [github] repo "
                    "or [github.repos])")
    elif not settings.repo:
        log.info("[GitHub] Correlation is on for the Sentry projects in [github.repos] only "
                 "(no default [github] repo)")
    else:
        log.info("[GitHub] Correlation is on: %s via %s", settings.repo, settings.api_url)
    return []


@hookimpl
async def enrich_description(
    issue: IssueView,
    link: LinkView,
    stack_files: list[str],
    first_seen: datetime,
    config: Settings,
    http: httpx.AsyncClient,
    cache: Cache,
) -> Section | None:
    """The commits and deployments before ``first_seen`` in the issue's repository.

    None when the plugin is off for this issue (no token, no repository for its project).
    """
    settings: GithubSettings = config.plugin("github")
    slug = _project_slug(link.metadata)
    repo = settings.repo_for(slug)
    if settings.token is None or repo is None:
        reason = "no GITHUB_TOKEN" if settings.token is None else f"no repository for project {slug!r}"
        log.debug("[GitHub] %s: no correlation (%s)", issue.identifier, reason)
        return None
    client = GitHubClient(http, api_url=settings.api_url, token=settings.token.get_secret_value(),
                          cache=cache)
    window = Window.before(first_seen, settings)
    found = await correlate(client, cache, repo, settings, window, stack_files)
    log.info("[GitHub] %s: %d commit(s), %d touching the stack, %d deployment(s) in %s",
             issue.identifier, len(found.commits), len(found.matches), len(found.deployments), repo)
    if not found.commits and not found.deployments:
        return Section(key=SECTION_KEY, markdown="", note=(
            f"no commits or deployments between {api_time(window.since)} and "
            f"{api_time(window.until)} in {repo}"))
    return Section(key=SECTION_KEY, markdown=render_section(found, config.hub.tz))


def _project_slug(metadata: Mapping[str, Any]) -> str | None:
    """The Sentry project slug of a link (``metadata["project"]["slug"]``), if it has one."""
    project = (metadata or {}).get("project")
    slug = project.get("slug") if isinstance(project, Mapping) else None
    return slug if isinstance(slug, str) else None
