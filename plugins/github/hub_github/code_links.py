"""Links into the code on GitHub (the ``code_link`` hook): a stack frame's file and line in the
project's repository.

The repository is the project's ``[github.repos]`` entry, else ``[github] repo`` (as for the
correlation). The path is found the way the correlation matches stack paths to files, from the
end (``hub_github.paths``): with a token, among the files of the repository's tree at that
commit (``GET /repos/{repo}/git/trees/{ref}?recursive=1``, kept in the shared cache; concurrent
frames of one repository and commit share one request: hub_github.flight), so a CI
checkout root or a container's ``/app`` in front of it does not matter; without one, or when no
file matches, the path with what builds put in front (``webpack:///./``, ``app:///``, a drive)
taken off. At the commit when one is known, else ``HEAD``: GitHub shows the default branch.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

from hub import Cache, RetryLater

from hub_github.client import GitHubClient, GitHubError
from hub_github.paths import matching_files, normalise, segments
from hub_github.settings import GithubSettings

__all__ = ["code_link_of", "code_url", "repository_file", "web_url"]

log = logging.getLogger("hub.github")

_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
TREE_NAMESPACE = "github.tree-files"
#: A person's browser waits on the redirect: the tree gets this long, then the stripped path it is.
TREE_TIMEOUT_SECONDS = 2.5
#: A commit's tree never changes; a branch's may.
TREE_TTL_SECONDS = {True: 7 * 24 * 3600, False: 600}
#: GitHub's recursive tree stops at 100,000 entries; the cache keeps at most this many paths.
MAX_TREE_FILES = 50_000


def web_url(api_url: str) -> str:
    """GitHub's web address for an API base: ``https://github.com`` for ``https://api.github.com``,
    the Enterprise host for ``https://ghe.example.com/api/v3``."""
    base = api_url.rstrip("/")
    if re.fullmatch(r"https?://api\.github\.com", base, re.IGNORECASE):
        return "https://github.com"
    return re.sub(r"/api/v3$", "", base, flags=re.IGNORECASE)


def _ref(commit: str | None) -> str:
    return commit.lower() if commit and _SHA.fullmatch(commit) else "HEAD"


def code_url(settings: GithubSettings, project: str | None, path: str, line: int | None,
             commit: str | None, file: str | None = None) -> str | None:
    """The web URL of ``path`` (a stack path) at ``line`` in ``project``'s repository, or None
    when no repository is configured for it or nothing of the path is left. ``file``: the
    repository path already found for it (``repository_file``)."""
    repo = settings.repo_for(project)
    parts = tuple(file.split("/")) if file else segments(path)
    if repo is None or not parts:
        return None
    quoted = "/".join(quote(part, safe="") for part in parts)
    anchor = f"#L{line}" if line else ""
    return f"{web_url(settings.api_url)}/{repo}/blob/{_ref(commit)}/{quoted}{anchor}"


async def _tree_files(client: GitHubClient, cache: Cache, repo: str, ref: str) -> list[str]:
    # A page of stack frames (or several people opening one deploy's errors) asks for one tree at
    # once: on a cold cache they share one request, as concurrent commit fetches do.
    return await client.coalesced(("tree", repo, ref), lambda: _fetch_tree_files(client, cache, repo, ref))


async def _fetch_tree_files(client: GitHubClient, cache: Cache, repo: str, ref: str) -> list[str]:
    key = f"{repo}@{ref}"
    cached = await cache.get(TREE_NAMESPACE, key)
    if isinstance(cached, list):
        return cached
    body = await client.get_json(f"/repos/{repo}/git/trees/{quote(ref, safe='')}", {"recursive": "1"})
    tree = body.get("tree") if isinstance(body, dict) else None
    files = [entry["path"] for entry in tree if isinstance(entry, dict) and entry.get("type") == "blob"
             and isinstance(entry.get("path"), str)][:MAX_TREE_FILES] if isinstance(tree, list) else []
    await cache.set(TREE_NAMESPACE, key, files, ttl_seconds=TREE_TTL_SECONDS[ref != "HEAD"])
    return files


async def repository_file(settings: GithubSettings, project: str | None, path: str, commit: str | None,
                          http: httpx.AsyncClient, cache: Cache) -> str | None:
    """The file of ``project``'s repository that stack path ``path`` is, matched from the end
    among the tree's files; None without a token or a repository, or when GitHub does not answer
    in time or no file matches (the caller then strips the path itself)."""
    repo = settings.repo_for(project)
    if repo is None or settings.token is None:
        return None
    client = GitHubClient.for_settings(settings, http, cache)
    try:
        files = await asyncio.wait_for(_tree_files(client, cache, repo, _ref(commit)), TREE_TIMEOUT_SECONDS)
    except (GitHubError, RetryLater, httpx.HTTPError, asyncio.TimeoutError) as error:
        log.warning("[GitHub] Files of %s not listed for a stack-trace link: %s", repo,
                    str(error) or type(error).__name__)
        return None
    # A tree lists up to tens of thousands of files and this runs on the event loop, once per
    # click: only the files that end as the frame's file name can match, the rest skip the walk.
    stack = normalise(path)
    name = stack[-1] if stack else ""
    found = matching_files([path], [file for file in files if file.lower().endswith(name)]) if name else []
    return found[0] if found else None


async def code_link_of(settings: GithubSettings, project: str | None, path: str, line: int | None,
                       commit: str | None, http: httpx.AsyncClient, cache: Cache) -> Any:
    """The ``code_link`` answer: the repository's own path for the frame when it can be found."""
    file = await repository_file(settings, project, path, commit, http, cache)
    return code_url(settings, project, path, line, commit, file)
