"""A fake GitHub that answers with recorded exchanges (tests/fixtures/*.json), and settings builders.

The recordings come from other projects' test suites (PyGithub, hub4j/github-api), so tests
configure the repository the recording was made for and pick ``first_seen`` to cover its dates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from hub import IssueView, LinkView
from hub.cache import MemoryCache
from hub.config import Settings, build_settings

from hub_github.settings import CONFIG_SECTION

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
TOKEN = "ghp_TestTokenThatMustNeverBeLogged0001"
# Pagination and page size are the recording's choice, not something a request must repeat.
_LOOSE_PARAMS = {"per_page", "page"}
# Transfer headers describe the recorded bytes, not the body re-encoded here.
_DROPPED_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded fixture file: ``{"source", "note", "exchanges": [...]}``."""
    return json.loads((FIXTURES / name).read_text())


def recorded_response(recorded: dict[str, Any], **extra_headers: str) -> httpx.Response:
    """An httpx.Response from a recorded ``response`` (status, headers, JSON body)."""
    headers = {k: v for k, v in recorded["headers"].items() if k not in _DROPPED_HEADERS}
    headers.update(extra_headers)
    body = recorded["body"]
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(recorded["status"], headers=headers, content=content)


@dataclass
class _Route:
    method: str
    path: str
    params: dict[str, str]
    responses: list[Callable[[], httpx.Response]]
    served: int = 0


@dataclass
class FakeGitHub:
    """Routes requests by method, path and query to recorded (or test-made) responses.

    A recorded query parameter must be in the request with the same value (``page`` 1 is the
    same as no ``page``); ``per_page`` is the recording's choice and is not compared. Several
    exchanges for one request are served in recorded order, the last one repeating. With
    ``honour_etags``, a request whose If-None-Match equals the ETag it would get is answered
    304, as GitHub does. Anything unrouted is a 404, so a test sees every unexpected request fail.
    """

    honour_etags: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _routes: list[_Route] = field(default_factory=list)

    def serve(self, fixture: str, *, as_repo: tuple[str, str] | None = None,
              ignore: tuple[str, ...] = (), **extra_headers: str) -> "FakeGitHub":
        """Serve every exchange of a fixture file.

        ``as_repo=(recorded, wanted)`` serves a recording of one repository name under another
        (e.g. PyGithub's old name jacquev6/PyGithub); ``ignore`` names recorded query parameters
        the request need not repeat; ``extra_headers`` are added to every response.
        """
        for exchange in load_fixture(fixture)["exchanges"]:
            url = httpx.URL(exchange["request"]["url"])
            path = url.path
            if as_repo:
                path = path.replace(f"/repos/{as_repo[0]}/", f"/repos/{as_repo[1]}/", 1)
            params = {k: v for k, v in url.params.items() if k not in ignore}
            response = exchange["response"]
            self._add(exchange["request"]["method"], path, params,
                      lambda response=response: recorded_response(response, **extra_headers))
        return self

    def replay(self, fixture: str, index: int, method: str, path: str,
               **extra_headers: str) -> "FakeGitHub":
        """Serve one recorded response at another endpoint (a rate-limit answer is the same anywhere)."""
        response = load_fixture(fixture)["exchanges"][index]["response"]
        self._add(method, path, {}, lambda: recorded_response(response, **extra_headers))
        return self

    def respond(self, method: str, path: str, status: int = 200, json_body: Any = None,
                headers: dict[str, str] | None = None, text: str | None = None,
                **params: str) -> "FakeGitHub":
        """Serve a response made by the test (for what no recording covers, e.g. an empty list)."""
        def make() -> httpx.Response:
            if text is not None:
                return httpx.Response(status, text=text, headers=headers or {})
            return httpx.Response(status, json=json_body, headers=headers or {})
        self._add(method, path, params, make)
        return self

    def fail(self, method: str, path: str, error: Exception) -> "FakeGitHub":
        """Raise ``error`` (e.g. httpx.ConnectError) for a request, as a broken network would."""
        def raise_it() -> httpx.Response:
            raise error
        self._add(method, path, {}, raise_it)
        return self

    def client(self) -> httpx.AsyncClient:
        """An AsyncClient whose transport is this fake."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def paths(self, method: str = "GET") -> list[str]:
        """The paths requested so far, with their queries, in order."""
        return [_path_and_query(r.url) for r in self.requests if r.method == method]

    def _add(self, method: str, path: str, params: dict[str, str],
             make: Callable[[], httpx.Response]) -> None:
        for route in self._routes:
            if (route.method, route.path, route.params) == (method, path, params):
                route.responses.append(make)
                return
        self._routes.append(_Route(method, path, params, [make]))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self._answer(request)
        self.statuses.append(response.status_code)
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        route = next((r for r in self._routes if _matches(r, request)), None)
        if route is None:
            return httpx.Response(404, json={"message": f"Not recorded: {_path_and_query(request.url)}"})
        response = route.responses[min(route.served, len(route.responses) - 1)]()
        route.served += 1
        etag = response.headers.get("etag")
        if self.honour_etags and etag and request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"etag": etag})
        return response


def _matches(route: _Route, request: httpx.Request) -> bool:
    if (route.method, route.path) != (request.method, request.url.path):
        return False
    asked = dict(request.url.params)
    if route.params.get("page", "1") != asked.get("page", "1"):
        return False
    return all(asked.get(k) == v for k, v in route.params.items() if k not in _LOOSE_PARAMS)


def _path_and_query(url: httpx.URL) -> str:
    return url.raw_path.decode()


@pytest.fixture
def fixture_data() -> Callable[[str], dict[str, Any]]:
    """``fixture_data(name)``: a recorded fixture file, parsed."""
    return load_fixture


@pytest.fixture
def token() -> str:
    """The GitHub token the tests configure; it must never show up in a message or a log line."""
    return TOKEN


@pytest.fixture
def fake_github() -> FakeGitHub:
    """A fresh fake GitHub (no routes yet)."""
    return FakeGitHub()


@pytest.fixture
def cache() -> MemoryCache:
    """An empty in-memory cache."""
    return MemoryCache()


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Build Settings from a ``[github]`` table, the environment and an optional display time zone."""
    def build(github: dict[str, Any] | None = None, env: dict[str, str] | None = None,
              timezone: str = "UTC") -> Settings:
        raw: dict[str, Any] = {"hub": {"timezone": timezone}}
        if github is not None:
            raw["github"] = github
        return build_settings(raw, sections=[CONFIG_SECTION], env=env if env is not None else {})
    return build


@pytest.fixture
def issue() -> IssueView:
    """An issue as the worker hands it to enrichers."""
    return IssueView(id="issue-1", identifier="CHIPP-7", title="TypeError: boom", description="",
                     priority="P2", status="open", assignee=None,
                     created_at=datetime.fromisoformat("2024-12-13T12:00:00+00:00"))


@pytest.fixture
def make_link() -> Callable[..., LinkView]:
    """A Sentry link for a project slug; its metadata names the project as the Sentry plugin's does."""
    def build(project_slug: str | None = "backend") -> LinkView:
        metadata = {"project": {"slug": project_slug, "name": project_slug}} if project_slug else {}
        return LinkView(source="sentry", external_id="4242", external_url="https://sentry.io/issues/4242/",
                        metadata=metadata)
    return build


@pytest.fixture
def golden() -> Callable[[str], str]:
    """The text of a golden file in tests/golden."""
    return lambda name: (GOLDEN / name).read_text()
