"""``[alertmanager]`` in config.toml: credentials, the severity map, label filters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from hub import ConfigSection

__all__ = ["CONFIG_SECTION", "AlertmanagerSettings"]

Priority = Literal["P0", "P1", "P2", "P3", "P4"]


class AlertmanagerSettings(BaseModel):
    """``[alertmanager]``. ``token`` and ``password`` come only from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Bearer token Alertmanager sends (``http_config.authorization.credentials``).
    token: SecretStr | None = None
    #: Basic auth (``http_config.basic_auth``): the user name, and the password from the environment.
    username: str | None = None
    password: SecretStr | None = None
    #: Serve unauthenticated webhooks on a non-loopback address anyway (a private network you trust).
    allow_unauthenticated: bool = False
    #: The label whose value picks the priority, and the map (lower-cased values).
    severity_label: str = "severity"
    severity_priorities: dict[str, Priority] = {"critical": "P1", "warning": "P2", "info": "P4"}
    default_priority: Priority = "P3"
    #: ``label = [values]``: an alert is handled only when every listed label has one of its values.
    include_labels: dict[str, list[str]] = {}
    #: ``label = [values]``: an alert with any listed label at one of its values is skipped.
    exclude_labels: dict[str, list[str]] = {}

    def priority_for(self, labels: dict[str, str]) -> str:
        """The priority of an alert with ``labels``: its severity mapped, else the default."""
        severity = labels.get(self.severity_label, "").lower()
        return self.severity_priorities.get(severity, self.default_priority)

    def filtered_out(self, labels: dict[str, str]) -> str | None:
        """Why an alert with ``labels`` is not handled, or None when it is."""
        for name, values in self.include_labels.items():
            if labels.get(name) not in values:
                return f"label {name}={labels.get(name)!r} is not in [alertmanager.include_labels]"
        for name, values in self.exclude_labels.items():
            if labels.get(name) in values:
                return f"label {name}={labels.get(name)!r} is in [alertmanager.exclude_labels]"
        return None

    @property
    def authenticated(self) -> bool:
        """Whether a credential is configured (a bearer token, or a user name and password)."""
        return self.token is not None or (self.username is not None and self.password is not None)


CONFIG_SECTION = ConfigSection(
    name="alertmanager",
    model=AlertmanagerSettings,
    env={"token": "ALERTMANAGER_TOKEN", "username": "ALERTMANAGER_USERNAME", "password": "ALERTMANAGER_PASSWORD"},
    secrets=frozenset({"token", "password"}),
)
