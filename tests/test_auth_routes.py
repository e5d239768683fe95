"""Every route declares a scope, and the public ones are exactly the documented few."""

from __future__ import annotations

from litestar import get
from litestar.testing import AsyncTestClient

from hub.app import create_app
from hub.auth import PUBLIC, SCOPES
from hub.plugins import build_plugin_manager
from support import make_settings

#: (method, path) of every route anyone may call. Adding one is a security decision: say why in
#: docs/operations.md ("Security") before adding it here.
PUBLIC_ROUTES = {
    ("GET", "/api/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/first-run"),
    # The console's stylesheet: the login page needs it before anyone is signed in; no data in it.
    ("GET", "/static/{file_path:path}"),
    # Sentry's UI components (docs/sentry.md): called by Sentry's servers, each request checked
    # against Sentry-App-Signature by the plugin before anything is read or written.
    ("POST", "/api/sentry/issue-link/create"),
    ("POST", "/api/sentry/issue-link/link"),
    ("GET", "/api/sentry/issue-link/search"),
    ("POST", "/api/sentry/alert-rule-action"),
    # Opened by a person's browser from a stack frame, unsigned: it only redirects to a
    # repository of [github] (nothing read from the hub's issues, nothing written).
    ("GET", "/api/sentry/stacktrace-link"),
}


def _routes(app):
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                yield method, route.path, handler


def _app():
    pm = build_plugin_manager()
    return create_app(make_settings("sqlite+aiosqlite:///unused.db", pm=pm), pm, start_worker=False, migrate=False)


def test_every_route_declares_a_scope_and_public_ones_are_exactly_the_listed(echo_installed):
    app = _app()
    webhooks = {(method, f"/api/{source}/webhook") for source in ("sentry", "github", "alertmanager", "echo") for method in ("GET", "POST")}
    expected_public = PUBLIC_ROUTES | webhooks
    public = set()
    for method, path, handler in _routes(app):
        scope = handler.opt.get("scope")
        assert scope == PUBLIC or scope in SCOPES, f"{method} {path} declares no scope (opt={handler.opt})"
        if scope == PUBLIC:
            public.add((method, path))
    assert public == expected_public


def test_the_walk_sees_the_api_the_schema_and_the_triage_routes(echo_installed):
    scopes = {(method, path): handler.opt.get("scope") for method, path, handler in _routes(_app())}
    assert scopes[("GET", "/api/issues")] == "read"
    assert scopes[("GET", "/api/issues/{identifier:str}")] == "read"
    assert scopes[("PATCH", "/api/issues/{identifier:str}")] == "write"
    assert scopes[("POST", "/api/issues/{identifier:str}/comments")] == "write"
    assert scopes[("GET", "/api/tokens")] == "admin"
    assert scopes[("POST", "/api/jobs/{job_id:str}/retry")] == "admin"
    assert scopes[("GET", "/schema/openapi.json")] == "read"
    assert scopes[("GET", "/metrics")] == "read"
    assert scopes[("GET", "/")] == "read"
    assert scopes[("GET", "/issues")] == "read"
    assert scopes[("POST", "/issues/{identifier:str}/triage")] == "write"
    assert scopes[("POST", "/issues/{identifier:str}/comment")] == "write"
    assert scopes[("POST", "/deliveries/{delivery_id:str}/dry-run")] == "write"
    assert scopes[("POST", "/deliveries/{delivery_id:str}/replay")] == "admin"
    assert scopes[("POST", "/jobs/{job_id:str}/retry")] == "admin"
    assert scopes[("POST", "/jobs/{job_id:str}/cancel")] == "admin"


async def test_a_route_without_a_scope_is_refused_at_run_time(database_url):
    # The walk above keeps such a route from shipping; the guard refuses it anyway (fail closed).
    @get("/api/forgotten", sync_to_thread=False)
    def forgotten() -> dict:
        return {"secret": "data"}

    pm = build_plugin_manager()
    app = create_app(make_settings(database_url, pm=pm), pm, start_worker=False, migrate=False)
    app.register(forgotten)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/api/forgotten")
    assert response.status_code == 403 and "secret" not in response.text
