"""Before ``hub serve`` binds: plugins whose settings are unsafe off this machine keep it on loopback."""

from __future__ import annotations

import ipaddress

import pluggy

from hub.config import ConfigError, Settings

__all__ = ["check_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere: not loopback


def check_exposure(settings: Settings, pm: pluggy.PluginManager, host: str) -> None:
    """Raise ConfigError (one line) when ``host`` is not loopback and a plugin says it is unsafe there."""
    if is_loopback(host):
        return
    reasons = [reason for result in pm.hook.exposure_problems(config=settings) for reason in (result or [])]
    if reasons:
        raise ConfigError(f"refusing to listen on {host}: {'; '.join(reasons)}")
