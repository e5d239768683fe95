"""From a config file path to validated settings and a plugin manager (shared by CLI and ASGI entry)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pluggy

from hub.config import ConfigError, Settings, build_settings, config_path, read_config_file
from hub.plugins import build_plugin_manager, config_sections

__all__ = ["load"]


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[Settings, pluggy.PluginManager]:
    """Read the config (``path``, ``$HUB_CONFIG`` or ./config.toml), load plugins, validate every section.

    The default ./config.toml may be absent (all defaults); an explicit path must exist.
    """
    resolved = config_path(path)
    explicit = path is not None or bool(os.environ.get("HUB_CONFIG"))
    if resolved.exists() or explicit:
        raw = read_config_file(resolved)
    else:
        raw = {}
    disabled = raw.get("plugins", {}).get("disabled", []) if isinstance(raw.get("plugins"), dict) else []
    if not isinstance(disabled, list) or not all(isinstance(name, str) for name in disabled):
        raise ConfigError(f"{resolved}: [plugins] disabled must be a list of plugin names")
    pm = build_plugin_manager(disabled)
    settings = build_settings(raw, config_sections(pm), env=env, path=Path(resolved))
    return settings, pm
