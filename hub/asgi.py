"""ASGI entry for servers that import an app factory (``hub serve`` with several workers uses it)."""

from __future__ import annotations

from litestar import Litestar

from hub.app import create_app
from hub.bootstrap import load
from hub.logs import setup_logging

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    """Build the app from ``$HUB_CONFIG`` (or ./config.toml) and the environment."""
    settings, pm = load()
    setup_logging(settings.hub.log_level, settings.secrets, settings.hub.log_format)
    return create_app(settings, pm)
