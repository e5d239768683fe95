"""Links into the code on GitHub (the ``code_link`` hook): a stack frame's file and line in the
project's repository.

The repository is the project's ``[github.repos]`` entry, else ``[github] repo`` (as for the
correlation); the path loses what builds put in front of it (``webpack:///./``, ``app:///``, a
drive) the way the correlation's matching reads it (``hub_github.paths.segments``). At the
commit when one is known, else ``HEAD``: GitHub shows the default branch for it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from hub_github.paths import segments
from hub_github.settings import GithubSettings

__all__ = ["code_url", "web_url"]

_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


def web_url(api_url: str) -> str:
    """GitHub's web address for an API base: ``https://github.com`` for ``https://api.github.com``,
    the Enterprise host for ``https://ghe.example.com/api/v3``."""
    base = api_url.rstrip("/")
    if re.fullmatch(r"https?://api\.github\.com", base, re.IGNORECASE):
        return "https://github.com"
    return re.sub(r"/api/v3$", "", base, flags=re.IGNORECASE)


def code_url(settings: GithubSettings, project: str | None, path: str, line: int | None,
             commit: str | None) -> str | None:
    """The web URL of ``path`` (a stack path) at ``line`` in ``project``'s repository, or None
    when no repository is configured for it or nothing of the path is left."""
    repo = settings.repo_for(project)
    parts = segments(path)
    if repo is None or not parts:
        return None
    ref = commit.lower() if commit and _SHA.fullmatch(commit) else "HEAD"
    file = "/".join(quote(part, safe="") for part in parts)
    anchor = f"#L{line}" if line else ""
    return f"{web_url(settings.api_url)}/{repo}/blob/{ref}/{file}{anchor}"
