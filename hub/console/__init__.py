"""The console: server-rendered pages of issues, deliveries and jobs (hub/console/templates),
with their stylesheet shipped in the package (``/static``, public like the login page)."""

from __future__ import annotations

from litestar.static_files import create_static_files_router

from hub.auth import PUBLIC, scope_opt
from hub.console.render import STATIC
from hub.console.routes import CONSOLE_HANDLERS

__all__ = ["CONSOLE_HANDLERS", "static_files"]


def static_files():
    """The router serving the console's stylesheet (no secret in it: public, as the login page needs it)."""
    return create_static_files_router(path="/static", directories=[STATIC], opt=scope_opt(PUBLIC),
                                      include_in_schema=False)
