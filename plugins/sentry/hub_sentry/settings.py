"""``[sentry]`` in config.toml: the webhook secret, the API token, and which projects count."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hub import ConfigSection

__all__ = ["CONFIG_SECTION", "ProjectSettings", "SentrySettings"]


class ProjectSettings(BaseModel):
    """``[sentry.projects]``: glob filters on the project slug and per-project priority overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[str] = []
    exclude: list[str] = []
    priority: dict[str, Literal["P1", "P2", "P3", "P4"]] = {}

    def enabled(self, slug: str) -> bool:
        """Whether issues of project ``slug`` are handled: included (empty include = all), not excluded."""
        included = not self.include or any(fnmatchcase(slug, pattern) for pattern in self.include)
        return included and not any(fnmatchcase(slug, pattern) for pattern in self.exclude)

    @property
    def filtered(self) -> bool:
        """Whether any filter is set (a delivery that names no project then cannot be placed)."""
        return bool(self.include or self.exclude)


class SentrySettings(BaseModel):
    """``[sentry]``. ``client_secret`` and ``auth_token`` come only from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_secret: SecretStr | None = None
    auth_token: SecretStr | None = None
    organization: str | None = None
    api_url: str = "https://sentry.io"
    web_url: str = "https://sentry.io"
    require_signature: bool = False
    #: Serve unsigned webhooks on a non-loopback address anyway (a private network you trust).
    allow_unsigned: bool = False
    max_timestamp_skew_seconds: int = Field(300, ge=0)
    projects: ProjectSettings = ProjectSettings()
    # Lifecycle sync: Sentry's later events change the issue they created.
    auto_resolve: bool = True
    comment_on_regression: bool = True
    sync_assignees: bool = True
    archived: Literal["comment", "close", "label"] = "comment"
    metric_alerts: bool = True
    event_alerts: bool = True
    #: ``[sentry.assignees]``: Sentry user email, user name or ``team:<slug>`` -> hub agent.
    assignees: dict[str, str] = {}
    # Both ways (hub_sentry.syncback, hub_sentry.backfill).
    #: Show each hub issue in Sentry as the Sentry issue's external issue (needs the token with
    #: event:write and an address people reach: ``Settings.public_base``, i.e. ``[hub] public_url``,
    #: that is not this machine's loopback address).
    link_issues: bool = True
    #: Resolve, reopen and assign the Sentry issue when the hub issue is (needs event:write).
    sync_back: bool = False
    #: Reconcile with Sentry's API every this many minutes (the worker; 0: off).
    reconcile_interval_minutes: float = Field(0, ge=0)
    #: How far back each periodic reconcile looks (Sentry's lastSeen), in hours.
    reconcile_window_hours: float = Field(24, gt=0)

    @property
    def api_ready(self) -> bool:
        """Whether Sentry's API can be asked: a token (SENTRY_AUTH_TOKEN) and an organisation
        (SENTRY_ORG or ``organization``). The one test every caller of the API makes first."""
        return self.auth_token is not None and bool(self.organization)

    @field_validator("api_url", "web_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL such as https://sentry.io, got {value!r}")
        return value


CONFIG_SECTION = ConfigSection(
    name="sentry",
    model=SentrySettings,
    env={
        "client_secret": "SENTRY_CLIENT_SECRET",
        "auth_token": "SENTRY_AUTH_TOKEN",
        "organization": "SENTRY_ORG",
        "api_url": "SENTRY_API_URL",
    },
    secrets=frozenset({"client_secret", "auth_token"}),
)
