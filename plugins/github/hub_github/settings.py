"""``[github]`` in config.toml: which repository to read, with what token, and how far back to look."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hub import ConfigSection

__all__ = ["CONFIG_SECTION", "GithubSettings"]

# GitHub owners are letters, digits and hyphens; repository names add "." and "_".
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


def _check_repo(value: str) -> str:
    value = value.strip()
    if not _REPO.match(value) or value.split("/")[1] in (".", ".."):
        raise ValueError(f"expected 'owner/repo', got {value!r}")
    return value


class GithubSettings(BaseModel):
    """``[github]``: the repository searched for a suspected cause, and the search's bounds.

    ``token`` comes only from ``GITHUB_TOKEN``; ``repo`` and ``api_url`` may be overridden by
    ``GITHUB_REPO`` and ``GITHUB_API_URL``. ``[github.repos]`` maps a Sentry project slug to the
    repository of that project.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # SecretStr: a repr of the settings (tracebacks, debug logs) shows stars, not the token.
    token: SecretStr | None = None
    repo: str | None = None
    api_url: str = "https://api.github.com"
    lookback_hours: int = Field(48, ge=1)
    # One page of the commit list; GitHub's per_page stops at 100.
    max_commits: int = Field(20, ge=1, le=100)
    # GitHub lists at most 3000 files of a commit, 300 a page.
    max_file_pages: int = Field(10, ge=1, le=10)
    max_deployments: int = Field(5, ge=0)
    deployment_margin_minutes: int = Field(15, ge=0)
    repos: dict[str, str] = {}

    @field_validator("repo")
    @classmethod
    def _repo_shape(cls, value: str | None) -> str | None:
        return None if value is None else _check_repo(value)

    @field_validator("repos")
    @classmethod
    def _repos_shape(cls, value: dict[str, str]) -> dict[str, str]:
        return {slug: _check_repo(repo) for slug, repo in value.items()}

    @field_validator("api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL such as https://api.github.com, got {value!r}")
        return value

    def repo_for(self, project_slug: str | None) -> str | None:
        """The repository of a Sentry project: its ``[github.repos]`` entry, else ``repo``."""
        if project_slug and project_slug in self.repos:
            return self.repos[project_slug]
        return self.repo


CONFIG_SECTION = ConfigSection(
    name="github",
    model=GithubSettings,
    env={"token": "GITHUB_TOKEN", "repo": "GITHUB_REPO", "api_url": "GITHUB_API_URL"},
    secrets=frozenset({"token"}),
)
