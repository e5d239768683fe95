"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
from litestar.testing import AsyncTestClient, TestClient

from hub import db
from hub.app import create_app
from hub.auth.tokens import create_token
from hub.config import build_settings
from hub.ingest import remembered
from hub.plugins import build_plugin_manager, config_sections
from hub.testing import MISSING, replaced  # noqa: F401 - MISSING: with_value's removal marker, for the tests

FIXTURES = Path(__file__).parent / "fixtures"


def make_settings(database_url: str, raw: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                  pm: Any = None) -> Any:
    """Settings for a test: the given config tables on top of defaults, pointing at ``database_url``."""
    raw = dict(raw or {})
    raw.setdefault("database", {})
    raw["database"] = {**raw["database"], "url": database_url}
    pm = pm or build_plugin_manager()
    return build_settings(raw, config_sections(pm), env=env or {})


def sign(body: bytes, secret: str) -> str:
    """The Sentry-Hook-Signature of ``body``: HMAC-SHA256, lowercase hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()



class HubClient:
    """A running app (real lifespan, real database) and its test client.

    ``client`` sends ``Authorization: Bearer`` with a token of the factory's ``token_scope``
    (``read`` unless told otherwise; None: an anonymous client).
    """

    def __init__(self, app: Any, client: AsyncTestClient) -> None:
        self.app = app
        self.client = client

    @property
    def hub(self) -> Any:
        """The app's Hub (engine, plugins, settings)."""
        return self.app.state.hub


async def _new_token(settings: Any, scope: str) -> str:
    # On an engine of its own, before the app starts: the app's engine belongs to its event loop.
    engine = db.create_engine(settings.database)
    try:
        return await create_token(engine, f"test-{scope}-{uuid.uuid4().hex[:8]}", scope)
    finally:
        await engine.dispose()


class _SettledClient(AsyncTestClient):
    """A test client whose requests return once what the hub writes beside an answer is written.

    ``Decision.remember`` writes run as tasks after the answer, on the app's event loop (the
    test client's own thread); a test that reads the database on its loop right after would
    otherwise meet the write half done (and on SQLite, wait out the lock).
    """

    async def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """``AsyncTestClient.request``, then wait for the remember writes under way."""
        response = await super().request(*args, **kwargs)
        await remembered()
        return response


def hub_client_factory(database_url: str) -> Callable[..., Any]:
    """Factory of running apps on ``database_url``: ``async with factory(raw=..., env=...) as hc``."""
    @asynccontextmanager
    async def factory(raw: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                      transport: httpx.AsyncBaseTransport | None = None, pm: Any = None,
                      start_worker: bool = False, token_scope: str | None = "read") -> AsyncIterator[HubClient]:
        pm = pm or build_plugin_manager()
        settings = make_settings(database_url, raw, env, pm)
        app = create_app(settings, pm, http_transport=transport, start_worker=start_worker, migrate=False)
        token = await _new_token(settings, token_scope) if token_scope is not None else None
        async with _SettledClient(app=app, timeout=30) as client:
            if token is not None:
                # The API needs a token (issue 12): tests that read it do so with this one.
                client.headers["authorization"] = f"Bearer {token}"
            yield HubClient(app, client)

    return factory




SENTRY_SECRET = "test-client-secret-0123456789"


def sentry_issue_body(issue_id: str = "123", action: str = "created", substatus: str | None = "new") -> bytes:
    """A Sentry ``issue`` delivery (Sentry's own mock, with another id and action), as bytes."""
    import json

    payload = json.loads((FIXTURES / "sentry" / "mocks-integration-platform-example" / "issue-created.json").read_text())
    payload["action"] = action
    payload["data"]["issue"]["id"] = issue_id
    payload["data"]["issue"]["shortId"] = f"IPE-{issue_id}"
    if substatus is not None:
        payload["data"]["issue"]["substatus"] = substatus
    return json.dumps(payload).encode()


def sentry_headers(body: bytes, secret: str = SENTRY_SECRET, resource: str = "issue") -> dict[str, str]:
    """The headers Sentry sends with ``body``, signed with ``secret``."""
    import time

    return {"content-type": "application/json", "sentry-hook-resource": resource,
            "sentry-hook-signature": sign(body, secret), "sentry-hook-timestamp": str(int(time.time()))}


def sync_client(database_url: str, env: dict[str, str]) -> TestClient:
    """A synchronous test client of an app on ``database_url`` (no worker, already migrated),
    for hypothesis tests, which drive requests from plain functions."""
    pm = build_plugin_manager()
    app = create_app(make_settings(database_url, env=env, pm=pm), pm, start_worker=False, migrate=False)
    return TestClient(app=app)


def with_value(document: Any, path: tuple, value: Any) -> bytes:
    """``document`` as JSON bytes with the value at ``path`` (keys and indexes) replaced by ``value``
    (removed for ``MISSING``: ``hub.testing.replaced``)."""
    import json

    return json.dumps(replaced(document, path, value)).encode()
