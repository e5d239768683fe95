"""From a config file path to validated settings and a plugin manager (shared by CLI and ASGI entry)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pluggy

from hub.config import ConfigError, Settings, build_settings, config_path, read_config_file
from hub.plugins import build_plugin_manager, config_sections

__all__ = ["load", "plugin_manager_for"]


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
         pm: pluggy.PluginManager | None = None) -> tuple[Settings, pluggy.PluginManager]:
    """Read the config (``path``, ``$HUB_CONFIG`` or ./config.toml), load plugins, validate every section.

    The default ./config.toml may be absent (all defaults); an explicit path must exist. ``pm``:
    a plugin manager already built for this config (``plugin_manager_for``), used as it is.
    """
    resolved, raw = _read(path)
    if pm is None:
        pm = build_plugin_manager(_disabled(resolved, raw))
    settings = build_settings(raw, config_sections(pm), env=env, path=Path(resolved))
    return settings, pm


def plugin_manager_for(path: str | os.PathLike[str] | None = None) -> tuple[pluggy.PluginManager, list[str]]:
    """The plugins the config at ``path`` enables, and the names it disables (those are never
    imported), before the rest of the config is validated: the CLI needs the plugins' commands
    to parse its own."""
    resolved, raw = _read(path)
    disabled = _disabled(resolved, raw)
    return build_plugin_manager(disabled), disabled


def _read(path: str | os.PathLike[str] | None) -> tuple[Path, dict]:
    resolved = config_path(path)
    explicit = path is not None or bool(os.environ.get("HUB_CONFIG"))
    return resolved, read_config_file(resolved) if resolved.exists() or explicit else {}


def _disabled(resolved: Path, raw: Mapping) -> list[str]:
    disabled = raw.get("plugins", {}).get("disabled", []) if isinstance(raw.get("plugins"), dict) else []
    if not isinstance(disabled, list) or not all(isinstance(name, str) for name in disabled):
        raise ConfigError(f"{resolved}: [plugins] disabled must be a list of plugin names")
    return disabled
