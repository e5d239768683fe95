"""config.toml plus environment overrides, validated into typed settings.

Unknown keys are errors: a typo in a config file must not silently fall back to a default.
Secrets are only read from the environment (a plugin's ConfigSection names them).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.types import ConfigSection

__all__ = [
    "AuthSettings",
    "ConfigError",
    "DatabaseSettings",
    "HubSettings",
    "Settings",
    "WorkerSettings",
    "build_settings",
    "config_path",
    "listen_url",
    "read_config_file",
]

CORE_SECTIONS = ("hub", "database", "worker", "plugins", "auth")
#: Any setting from the environment: ``HUB_<SECTION>__<KEY>`` (``HUB_WORKER__MAX_ATTEMPTS=3``,
#: ``HUB_HUB__LOG_FORMAT=json``, nested tables with ``__`` again: ``HUB_SENTRY__PROJECTS__INCLUDE``).
ENV_PREFIX = "HUB_"
ENV_SEPARATOR = "__"


class ConfigError(Exception):
    """A configuration problem, worded as one line for the operator."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSettings(_Strict):
    """``[hub]``: identity and HTTP limits of this hub."""

    issue_prefix: str = Field("CHIPP", pattern=r"^[A-Z][A-Z0-9]*$")
    timezone: str = "UTC"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    delivery_retention_days: float = Field(30.0, gt=0)
    log_level: str = "INFO"
    #: ``text``: one readable line per record; ``json``: one JSON object per line.
    log_format: Literal["text", "json"] = "text"
    #: Where people reach the hub (``https://hub.example.com``): the base of links to its pages
    #: that other systems show (Sentry's external issue, the GitHub mirror's link back).
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError(f"expected the hub's address such as https://hub.example.com, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone, for dates shown to people."""
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Strict):
    """``[database]``: where issues live. ``DATABASE_URL`` overrides ``url``."""

    url: str = "sqlite+aiosqlite:///./hub.db"
    #: PostgreSQL connections for webhook deliveries (the hot path). Concurrent commits share a
    #: WAL flush, so more connections in flight means more deliveries per flush (measured:
    #: 10 -> 20 took the create path from ~690 to ~820 req/s, docs/performance.md). The API, the
    #: worker and lifecycle updates use a second, smaller pool (a quarter of this, at least 2,
    #: and as many again under load).
    pool_size: int = Field(20, ge=1)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    statement_timeout_seconds: float = Field(10.0, gt=0)
    #: How long a webhook delivery may wait on the database before it is answered 503: below
    #: Sentry's 1 s, after which Sentry counts the delivery as failed whatever comes later.
    webhook_timeout_seconds: float = Field(0.8, gt=0)


class WorkerSettings(_Strict):
    """``[worker]``: the outbox worker that runs jobs (enrichment) after webhooks are answered."""

    enabled: bool = True
    poll_interval_seconds: float = Field(1.0, gt=0)
    #: Jobs run at once at first; the worker adapts it to the jobs' outcomes up to max_concurrency.
    batch_size: int = Field(5, ge=1)
    #: At most this many jobs at once per process. Jobs waiting on one outside call that a plugin
    #: shares among them cost that service nothing; each plugin keeps its service's own limits.
    max_concurrency: int = Field(200, ge=1)
    max_attempts: int = Field(6, ge=1)
    lease_seconds: float = Field(300.0, gt=0)
    backoff_base_seconds: float = Field(10.0, ge=0)
    backoff_max_seconds: float = Field(3600.0, ge=0)


class PluginsSettings(_Strict):
    """``[plugins]``: entry-point names of installed plugins to leave unloaded."""

    disabled: list[str] = []


class AuthSettings(_Strict):
    """``[auth]``: sessions, login rate limits, single sign-on behind a trusted proxy."""

    session_hours: float = Field(12.0, gt=0)
    #: Failed logins counted over ``login_window_seconds``; past either limit, logins answer 429.
    login_failures_per_account: int = Field(5, ge=1)
    login_failures_per_address: int = Field(20, ge=1)
    login_window_seconds: float = Field(900.0, gt=0)
    #: A header naming the signed-in person (``X-Forwarded-Email``), believed only from ``trusted_proxies``.
    trusted_header: str | None = None
    trusted_proxies: list[str] = []
    #: The scope of a person the proxy names who has no account of their own.
    trusted_scope: Literal["read", "write", "admin"] = "read"
    #: The address people reach the hub at (for the first-run link); default ``http://<host>:<port>``.
    public_url: str | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
        return value


@dataclass(frozen=True)
class Settings:
    """Every setting the hub runs with: the core sections and one model per plugin section."""

    hub: HubSettings = HubSettings()
    database: DatabaseSettings = DatabaseSettings()
    worker: WorkerSettings = WorkerSettings()
    plugins: PluginsSettings = PluginsSettings()
    auth: AuthSettings = AuthSettings()
    sections: Mapping[str, BaseModel] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    path: Path | None = None

    def public_base(self) -> str:
        """Where people reach the hub, without a trailing slash: ``[hub] public_url``, else
        ``[auth] public_url`` (its older name), else where ``hub serve`` listens."""
        base = (self.hub.public_url or self.auth.public_url or os.environ.get("HUB_LISTEN_URL")
                or listen_url(self.hub.host, self.hub.port))
        return base.rstrip("/")

    def issue_url(self, identifier: str) -> str:
        """The console page of issue ``identifier`` (``CHIPP-5``), as people outside reach it."""
        return f"{self.public_base()}/issues/{identifier}"

    def plugin(self, name: str) -> Any:
        """Return the validated model of a plugin's section (its defaults when the file has none)."""
        try:
            return self.sections[name]
        except KeyError:
            raise KeyError(f"no plugin registered a config section named {name!r}") from None


def listen_url(host: str, port: int) -> str:
    """The address of a server listening on ``host``:``port``, as a browser on this machine types
    it: a wildcard host (``0.0.0.0``, ``::``) as 127.0.0.1, an IPv6 address in brackets."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$HUB_CONFIG``, else ``./config.toml``."""
    return Path(explicit or os.environ.get("HUB_CONFIG") or "config.toml")


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; a missing default file is an empty config, a bad one an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def build_settings(
    raw: Mapping[str, Any],
    sections: Iterable[ConfigSection] = (),
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Validate a parsed config (plus environment overrides) into Settings, or raise ConfigError."""
    env = os.environ if env is None else env
    where = str(path) if path else "config"
    by_name = {section.name: section for section in sections}
    raw, from_env = _with_env_overrides(raw, env, [*CORE_SECTIONS, *by_name])
    unknown = sorted(set(raw) - set(CORE_SECTIONS) - set(by_name))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section [{unknown[0]}] (no installed plugin reads it; "
            f"known: {', '.join(sorted([*CORE_SECTIONS, *by_name]))})"
        )
    database = dict(raw.get("database", {}))
    if env.get("DATABASE_URL") and ("database", "url") not in from_env:
        database["url"] = env["DATABASE_URL"]
    core = {
        "hub": _validate(HubSettings, raw.get("hub", {}), "hub", where),
        "database": _validate(DatabaseSettings, database, "database", where),
        "worker": _validate(WorkerSettings, raw.get("worker", {}), "worker", where),
        "plugins": _validate(PluginsSettings, raw.get("plugins", {}), "plugins", where),
        "auth": _validate(AuthSettings, raw.get("auth", {}), "auth", where),
    }
    models: dict[str, BaseModel] = {}
    secrets: list[str] = []
    for name, section in by_name.items():
        values = dict(raw.get(name, {}))
        for key in section.secrets:
            if key in values and (name, key) not in from_env:
                raise ConfigError(
                    f"{where}: [{name}] {key} is a secret: set it in the environment "
                    f"({section.env.get(key, key.upper())}), not in the file"
                )
        for key, var in section.env.items():
            if env.get(var) and (name, key) not in from_env:
                values[key] = env[var]
                if key in section.secrets:
                    secrets.append(env[var])
        secrets.extend(str(values[key]) for key in section.secrets if (name, key) in from_env and values[key])
        models[name] = _validate(section.model, values, name, where)
    return Settings(**core, sections=models, secrets=tuple(secrets), path=path)


def _env_value(text: str) -> Any:
    """An environment value as TOML reads it (``3``, ``true``, ``["a", "b"]``), else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _with_env_overrides(raw: Mapping[str, Any], env: Mapping[str, str],
                        known: list[str]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """``raw`` with every ``HUB_<SECTION>__<KEY>`` variable applied over the file's value.

    Returns the merged tables and the (section, top-level key) pairs the environment set. A
    variable naming no known section is an error, like an unknown section in the file.
    """
    merged: dict[str, Any] = {name: dict(table) if isinstance(table, Mapping) else table
                              for name, table in raw.items()}
    from_env: set[tuple[str, str]] = set()
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX) or ENV_SEPARATOR not in variable:
            continue
        parts = [part.lower() for part in variable[len(ENV_PREFIX):].split(ENV_SEPARATOR)]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"environment: {variable} is not HUB_<SECTION>__<KEY>")
        section, *keys = parts
        if section not in known:
            raise ConfigError(f"environment: {variable} names unknown section [{section}] "
                              f"(known: {', '.join(sorted(known))})")
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"environment: {variable}: [{section}] must be a table")
        for key in keys[:-1]:
            inner = table.get(key)
            table[key] = dict(inner) if isinstance(inner, Mapping) else {}
            table = table[key]
        table[keys[-1]] = _env_value(env[variable])
        from_env.add((section, keys[0]))
    return merged, from_env


def _validate(model: type[BaseModel], values: Any, name: str, where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(section)"
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"{where}: unknown key [{name}] {key}") from None
        raise ConfigError(f"{where}: [{name}] {key}: {error['msg']}") from None
