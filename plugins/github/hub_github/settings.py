"""``[github]`` in config.toml: which repository to read, with what token, and how far back to look."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hub import ConfigSection

__all__ = ["CONFIG_SECTION", "GithubSettings", "IssuesSettings"]

# GitHub owners are letters, digits and hyphens; repository names add "." and "_".
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
# A GitHub login: up to 39 letters, digits and single hyphens, not starting with one ("[bot]" for apps).
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$")
_PRIORITIES = ("P1", "P2", "P3", "P4")


def _check_repo(value: str) -> str:
    value = value.strip()
    if not _REPO.match(value) or value.split("/")[1] in (".", ".."):
        raise ValueError(f"expected 'owner/repo', got {value!r}")
    return value


class IssuesSettings(BaseModel):
    """``[github.issues]``: mirror hub issues to GitHub Issues and bring GitHub's changes back.

    ``repo`` (default: ``[github] repo``) takes every issue; ``projects`` maps a Sentry project
    slug to its own repository. ``labels`` maps a hub priority to a GitHub label (the hub's own
    labels, such as ``Sentry``, are kept as they are); ``assignees`` maps a hub agent to a GitHub
    login, both ways. ``bot_login`` is the token's own login, which the hub otherwise learns from
    GitHub's answers: changes made by it are the hub's own and never come back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    repo: str | None = None
    projects: dict[str, str] = {}
    labels: dict[str, str] = {}
    assignees: dict[str, str] = {}
    bot_login: str | None = None
    #: GitHub asks for at least a second between writes of one token (its content limits).
    min_write_interval_seconds: float = Field(1.0, ge=0)

    @field_validator("repo")
    @classmethod
    def _repo_shape(cls, value: str | None) -> str | None:
        return None if value is None else _check_repo(value)

    @field_validator("projects")
    @classmethod
    def _projects_shape(cls, value: dict[str, str]) -> dict[str, str]:
        return {slug: _check_repo(repo) for slug, repo in value.items()}

    @field_validator("labels")
    @classmethod
    def _labels_shape(cls, value: dict[str, str]) -> dict[str, str]:
        for priority, label in value.items():
            if priority not in _PRIORITIES:
                raise ValueError(f"keys are hub priorities {', '.join(_PRIORITIES)}, got {priority!r}")
            if not label.strip() or len(label) > 50:
                raise ValueError(f"a GitHub label has 1 to 50 characters, got {label!r} for {priority}")
        return value

    @field_validator("assignees")
    @classmethod
    def _assignees_shape(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for agent, login in value.items():
            if not _LOGIN.match(login):
                raise ValueError(f"{login!r} (for {agent!r}) is not a GitHub login")
            if login.lower() in seen:
                raise ValueError(f"{login!r} is mapped from both {seen[login.lower()]!r} and {agent!r}: "
                                 "an assignment on GitHub could not be brought back")
            seen[login.lower()] = agent
        return value

    @field_validator("bot_login")
    @classmethod
    def _bot_login_shape(cls, value: str | None) -> str | None:
        if value is not None and not _LOGIN.match(value):
            raise ValueError(f"{value!r} is not a GitHub login")
        return value

    def agent_for(self, login: str) -> str | None:
        """The hub agent a GitHub login maps to (case-insensitive, as GitHub logins are)."""
        return next((agent for agent, mapped in self.assignees.items() if mapped.lower() == login.lower()), None)


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
    #: Requests to GitHub at once, per hub process (GitHub allows 100 per token, all its users together).
    max_concurrent_requests: int = Field(20, ge=1, le=100)
    deployment_margin_minutes: int = Field(15, ge=0)
    repos: dict[str, str] = {}
    #: ``X-Hub-Signature-256`` of ``POST /api/github/webhook`` is checked with it (GITHUB_WEBHOOK_SECRET).
    webhook_secret: SecretStr | None = None
    issues: IssuesSettings = IssuesSettings()

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

    def issues_repo_for(self, project_slug: str | None) -> str | None:
        """Where a hub issue of a Sentry project is mirrored: ``[github.issues.projects]``, else
        ``[github.issues] repo``, else ``[github] repo``."""
        if project_slug and project_slug in self.issues.projects:
            return self.issues.projects[project_slug]
        return self.issues.repo or self.repo

    def mirrored_repos(self) -> set[str]:
        """Every repository issues are mirrored to, lower-cased (GitHub's names are case-insensitive)."""
        repos = {*self.issues.projects.values(), *([self.issues.repo or self.repo] if self.issues.repo or self.repo
                                                   else [])}
        return {repo.lower() for repo in repos}


CONFIG_SECTION = ConfigSection(
    name="github",
    model=GithubSettings,
    env={"token": "GITHUB_TOKEN", "repo": "GITHUB_REPO", "api_url": "GITHUB_API_URL",
         "webhook_secret": "GITHUB_WEBHOOK_SECRET"},
    secrets=frozenset({"token", "webhook_secret"}),
)
