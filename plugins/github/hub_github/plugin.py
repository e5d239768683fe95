"""GitHub plugin hooks: a "Suspected Cause" section from the commits and deployments before an error,
and the GitHub Issues mirror (the ``github`` sink out, the ``github`` webhook source back)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from hub import Change, ConfigSection, Decision, ExternalLinkDraft, IssueView, LinkView, Section, Sink, Source, \
    Verdict, hookimpl
from hub import Cache
from hub import Settings

from hub_github import issues as mirror
from hub_github import webhook
from hub_github.client import GitHubClient, GitHubError
from hub_github.code_links import code_link_of
from hub_github.correlate import Window, api_time, correlate
from hub_github.render import render_section
from hub_github.settings import CONFIG_SECTION, GithubSettings

log = logging.getLogger("hub.github")

SECTION_KEY = "suspected-cause"
SINK = Sink(name=mirror.SINK, description="GitHub Issues", command="github-issues", log_prefix="[GitHub Issues]")


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
    return _issues_problems(settings)


def _issues_problems(settings: GithubSettings) -> list[str]:
    """``[github.issues]``: what stops the mirror from working at all (fatal at start)."""
    if not settings.issues.enabled:
        return []
    problems = []
    if settings.token is None:
        problems.append("[github.issues] enabled needs GITHUB_TOKEN (a token that can write issues)")
    if not settings.issues.repo and not settings.repo:
        problems.append("[github.issues] enabled needs a repository: [github.issues] repo or [github] repo")
    if settings.webhook_secret is None:
        log.warning("[GitHub Issues] GITHUB_WEBHOOK_SECRET is not set: changes made on GitHub will not come back "
                    "(POST /api/github/webhook refuses every delivery)")
    if not problems:
        log.info("[GitHub Issues] Mirroring to %s", ", ".join(sorted(settings.mirrored_repos())))
    return problems


@hookimpl
async def code_link(project: str | None, path: str, line: int | None, commit: str | None, config: Settings,
                    http: httpx.AsyncClient, cache: Cache) -> str | None:
    """The file on GitHub, in ``project``'s repository (``[github.repos]``, else ``[github] repo``),
    found among the repository's files when a token can list them."""
    return await code_link_of(config.plugin("github"), project, path, line, commit, http, cache)


@hookimpl
def register_sources() -> list[Source]:
    """``/api/github/webhook``: GitHub's issues and issue_comment events for mirrored issues."""
    return [webhook.SOURCE]


@hookimpl
def verify_webhook(source: str, headers: Mapping[str, str], body: bytes, config: Settings) -> Verdict | None:
    """X-Hub-Signature-256 over the raw body with GITHUB_WEBHOOK_SECRET."""
    if source != webhook.SOURCE.name:
        return None
    return webhook.verify(headers, body, config.plugin("github"))


@hookimpl
def accept_webhook(source: str, headers: Mapping[str, str], payload: Any, config: Settings) -> Decision | None:
    """An ``update`` of the mirrored issue, or a skip with its reason."""
    if source != webhook.SOURCE.name:
        return None
    return webhook.accept(headers, payload, config.plugin("github"))


@hookimpl
def external_update(source: str, payload: Any, issue: IssueView, config: Settings) -> list[Change] | None:
    """Close, reopen, assignment and comments made on GitHub, each by ``github:<login>``."""
    if source != webhook.SOURCE.name:
        return None
    return webhook.changes_for(payload, issue, config.plugin("github"))


@hookimpl
def register_sinks(config: Settings | None) -> list[Sink]:
    """The ``github`` sink while ``[github.issues] enabled`` (always for the CLI's listing)."""
    if config is None or config.plugin("github").issues.enabled:
        return [SINK]
    return []


@hookimpl
async def check_sink(sink: str, config: Settings, http: httpx.AsyncClient, cache: Cache) -> list[str] | None:
    """Each mirrored repository exists, has issues, and the token's scopes (classic tokens) allow writing."""
    if sink != SINK.name:
        return None
    settings: GithubSettings = config.plugin("github")
    if settings.token is None:
        return ["GITHUB_TOKEN is not set"]
    client = GitHubClient.for_settings(settings, http, cache)
    problems = []
    for repo in sorted(settings.mirrored_repos()):
        try:
            response = await client.send("GET", f"/repos/{repo}")
        except GitHubError as exc:
            problems.append(f"repository {repo}: {exc}")
            continue
        found = response.json()
        scopes = response.headers.get("x-oauth-scopes")
        # Only classic tokens say their scopes; fine-grained ones are checked by their first write.
        if scopes is not None:
            have = {scope.strip() for scope in scopes.split(",") if scope.strip()}
            needed = "repo" if found.get("private") else "public_repo"
            if "repo" not in have and needed not in have:
                problems.append(f"the token lacks the {needed!r} scope needed to write issues in {repo} "
                                f"(it has: {', '.join(sorted(have)) or 'no scope'})")
        if found.get("has_issues") is False:
            problems.append(f"issues are turned off in {repo} (Settings > Features > Issues)")
    return problems


@hookimpl
async def publish_issue(sink: str, issue: IssueView, link: LinkView | None, links: list[LinkView],
                        changes: list[Change], labels: list[str], project: str | None, config: Settings,
                        http: httpx.AsyncClient, cache: Cache) -> ExternalLinkDraft | None:
    """Create the GitHub issue, or send it the hub's changes (hub_github.issues)."""
    if sink != SINK.name:
        return None
    return await mirror.publish(issue, link, links, changes, labels, config, http, cache, project=project)


@hookimpl
async def enrich_description(
    issue: IssueView,
    link: LinkView,
    stack_files: list[str],
    first_seen: datetime,
    project: str | None,
    config: Settings,
    http: httpx.AsyncClient,
    cache: Cache,
) -> Section | None:
    """The commits and deployments before ``first_seen`` in the issue's repository.

    None when the plugin is off for this issue (no token, no repository for its project).
    """
    settings: GithubSettings = config.plugin("github")
    slug = project  # the code_project contract: whichever source made the issue names it
    repo = settings.repo_for(slug)
    if settings.token is None or repo is None:
        reason = "no GITHUB_TOKEN" if settings.token is None else f"no repository for project {slug!r}"
        log.debug("[GitHub] %s: no correlation (%s)", issue.identifier, reason)
        return None
    client = GitHubClient.for_settings(settings, http, cache)
    window = Window.before(first_seen, settings)
    found = await correlate(client, cache, repo, settings, window, stack_files)
    log.info("[GitHub] %s: %d commit(s), %d touching the stack, %d deployment(s) in %s",
             issue.identifier, len(found.commits), len(found.matches), len(found.deployments), repo)
    if not found.commits and not found.deployments:
        return Section(key=SECTION_KEY, markdown="", note=(
            f"no commits or deployments between {api_time(window.since)} and "
            f"{api_time(window.until)} in {repo}"))
    return Section(key=SECTION_KEY, markdown=render_section(found, config.hub.tz))
