"""ASGI entry for servers that import an app factory (``hub serve`` with several workers uses it)."""

from __future__ import annotations

import gc

from litestar import Litestar

from hub.app import create_app
from hub.bootstrap import load
from hub.logs import setup_logging

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    """Build the app from ``$HUB_CONFIG`` (or ./config.toml) and the environment."""
    settings, pm = load()
    setup_logging(settings.hub.log_level, settings.secrets, settings.hub.log_format)
    app = create_app(settings, pm)
    # A serving process: what start-up made (modules, plugins, routes) lives as long as it does,
    # so it leaves the collector's generations and full collections stop walking it (shorter
    # pauses under load; Python's gc.freeze docs). Not in create_app: a process that builds many
    # apps (the tests) would keep each one's cycles for good.
    gc.collect()
    gc.freeze()
    return app
