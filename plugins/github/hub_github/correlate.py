"""Find the commits and deployments of a repository around the moment an error first appeared."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from hub import Cache
from hub import parse_datetime

from hub_github.client import GitHubClient, GitHubError
from hub_github.models import Commit, Correlation, Deployment
from hub_github.paths import matching_files
from hub_github.settings import GithubSettings

__all__ = [
    "COMMIT_NAMESPACE",
    "Window",
    "correlate",
    "fetch_commit",
    "list_commit_shas",
    "rank_commits",
    "recent_deployments",
]

COMMIT_NAMESPACE = "github.commit"
#: The commit list is asked for a window widened to these steps and cut to the exact window
#: here: the issues of one deploy, first seen minutes apart, share one list (and its ETag).
LIST_STEP = timedelta(minutes=10)
#: GitHub's largest page: room for the commits of the widened edges besides ``max_commits``.
LIST_PAGE = 100
# Commits never change; the TTL only keeps the shared cache table from growing forever.
COMMIT_TTL_SECONDS = 30 * 24 * 3600
# One page of deployments, newest first: enrichment runs minutes after an error appears, so the
# deployments around it are among the latest hundred.
DEPLOYMENTS_PER_PAGE = 100


@dataclass(frozen=True)
class Window:
    """The time searched: commits in ``[since, until]``, deployments in ``[since, deployed_until]``.

    ``until`` is the error's first appearance; deployments get a margin after it because a
    deployment record is often written once the rollout finished, after the new code already ran.
    """

    since: datetime
    until: datetime
    deployed_until: datetime

    @classmethod
    def before(cls, first_seen: datetime, settings: GithubSettings) -> "Window":
        """The window ending at ``first_seen`` (whole seconds, UTC), as configured."""
        if first_seen.tzinfo is None:
            first_seen = first_seen.replace(tzinfo=timezone.utc)
        until = first_seen.astimezone(timezone.utc).replace(microsecond=0)
        return cls(
            since=until - timedelta(hours=settings.lookback_hours),
            until=until,
            deployed_until=until + timedelta(minutes=settings.deployment_margin_minutes),
        )


def api_time(value: datetime) -> str:
    """The ISO 8601 form GitHub's ``since``/``until`` take: ``2024-12-13T10:30:00Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def list_commit_shas(client: GitHubClient, repo: str, window: Window, max_commits: int) -> list[str]:
    """The shas of the newest commits (at most ``max_commits``) of the default branch in the window.

    GitHub is asked for the window widened to whole ``LIST_STEP``s, a full page of it; the commits
    outside the exact window are dropped here (by committer date, as GitHub filters). Exact unless
    more than ``LIST_PAGE - max_commits`` commits landed in the minutes just after the window.
    """
    until = _floor(window.until)
    if until < window.until:
        until += LIST_STEP
    # Both ends from the step of ``until``: errors first seen in one step share one URL.
    since = until - (window.until - window.since) - LIST_STEP
    params = {"since": api_time(since), "until": api_time(until), "per_page": LIST_PAGE}
    listed = await client.get_conditional(f"/repos/{repo}/commits", params, keep=_dated_shas)
    inside = [item["sha"] for item in listed
              if item["date"] is None or window.since <= datetime.fromisoformat(item["date"]) <= window.until]
    return inside[:max_commits]


def _floor(moment: datetime) -> datetime:
    step = LIST_STEP.total_seconds()
    return datetime.fromtimestamp(moment.timestamp() // step * step, timezone.utc)


async def fetch_commit(client: GitHubClient, cache: Cache, repo: str, sha: str, max_pages: int) -> Commit:
    """One commit with its files (following the file pages of large commits), cached by sha.

    Concurrent enrichments (a burst of one deploy's issues) fetch each commit once together.
    """
    return await client.coalesced(("commit", repo, sha), lambda: _fetch_commit(client, cache, repo, sha, max_pages))


async def _fetch_commit(client: GitHubClient, cache: Cache, repo: str, sha: str, max_pages: int) -> Commit:
    key = f"{repo}@{sha}"
    cached = await cache.get(COMMIT_NAMESPACE, key)
    if cached is not None:
        return Commit.from_cache(cached)
    pages, complete = await client.get_pages(f"/repos/{repo}/commits/{sha}", max_pages)
    commit = Commit.from_pages(pages, complete)
    await cache.set(COMMIT_NAMESPACE, key, commit.to_cache(), COMMIT_TTL_SECONDS)
    return commit


async def recent_deployments(client: GitHubClient, repo: str, window: Window, limit: int) -> list[Deployment]:
    """The newest deployments (at most ``limit``) created in the window, with their latest state."""
    if limit == 0:
        return []
    listed = await client.get_conditional(
        f"/repos/{repo}/deployments", {"per_page": DEPLOYMENTS_PER_PAGE}, keep=_deployments
    )
    found = []
    for item in listed:
        created = datetime.fromisoformat(item["created_at"])
        if window.since <= created <= window.deployed_until:
            found.append((created, item))
    found.sort(key=lambda pair: pair[0], reverse=True)
    deployments = []
    for created, item in found[:limit]:
        status = await client.get_conditional(
            f"/repos/{repo}/deployments/{item['id']}/statuses", {"per_page": 1}, keep=_latest_status
        )
        deployments.append(Deployment(
            # A status may move a deployment to another environment; the latest one says where.
            environment=(status or {}).get("environment") or item["environment"],
            sha=item["sha"],
            ref=item["ref"],
            created_at=created,
            state=(status or {}).get("state"),
        ))
    return deployments


def rank_commits(
    commits: Iterable[Commit], stack_paths: list[str]
) -> tuple[list[Commit], dict[str, list[str]], list[str]]:
    """Order commits touching the stack first, then newest first.

    Returns the ordered commits, each commit's files found in the stack (by sha), and every
    such file once, most relevant stack frame first.
    """
    commits = list(commits)
    matches = {commit.sha: matching_files(stack_paths, commit.files) for commit in commits}
    ordered = sorted(commits, key=lambda c: (not matches[c.sha], -c.date.timestamp()))
    stack_files = matching_files(stack_paths, [f for c in ordered for f in matches[c.sha]])
    return ordered, {sha: files for sha, files in matches.items() if files}, stack_files


async def correlate(
    client: GitHubClient,
    cache: Cache,
    repo: str,
    settings: GithubSettings,
    window: Window,
    stack_paths: list[str],
) -> Correlation:
    """Fetch and rank what happened in ``repo`` during ``window``.

    The listed commits are fetched together (the token's budget bounds the requests at once:
    hub_github.pacing), the rest one after another.
    """
    shas = await list_commit_shas(client, repo, window, settings.max_commits)
    commits = await asyncio.gather(*(fetch_commit(client, cache, repo, sha, settings.max_file_pages)
                                     for sha in shas))
    ordered, matches, stack_files = rank_commits(commits, stack_paths)
    deployments = await recent_deployments(client, repo, window, settings.max_deployments)
    return Correlation(commits=ordered, deployments=deployments, matches=matches, stack_files=stack_files)


def _dated_shas(body: Any) -> list[dict[str, Any]]:
    kept = []
    for item in _list(body):
        git = item.get("commit") or {}
        # The committer date is what GitHub's since/until filter on (hub_github.models.Commit).
        date = parse_datetime((git.get("committer") or {}).get("date")) or \
            parse_datetime((git.get("author") or {}).get("date"))
        kept.append({"sha": item["sha"], "date": date.isoformat() if date else None})
    return kept


def _deployments(body: Any) -> list[dict[str, Any]]:
    kept = []
    for item in _list(body):
        created = parse_datetime(item.get("created_at"))
        if created is not None:
            kept.append({"id": item["id"], "sha": item.get("sha") or "", "ref": item.get("ref") or "",
                         "environment": item.get("environment") or "unknown",
                         "created_at": created.isoformat()})
    return kept


def _latest_status(body: Any) -> dict[str, Any] | None:
    statuses = _list(body)
    if not statuses:
        return None
    return {"state": statuses[0].get("state"), "environment": statuses[0].get("environment")}


def _list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise GitHubError(f"GitHub answered with a JSON {type(body).__name__} where a list was expected")
    return body
