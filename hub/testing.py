"""A conformance suite for source plugins: subclass ``SourceConformance`` in your plugin's tests.

It runs your installed plugin inside the real hub (the app factory, migrations, an SQLite file in
pytest's ``tmp_path``) and checks what every source must do: refuse a bad signature with 401 and
no issue, never answer 5xx whatever the body, answer a repeated delivery without a second issue,
give well-formed skip answers, and document every hook it implements::

    # tests/test_conformance.py of your plugin
    from hub.testing import SourceConformance

    class TestConformance(SourceConformance):
        source = "pagerduty"
        env = {"PAGERDUTY_TOKEN": "test-token-0123456789"}

        def delivery(self):                 # one that creates an issue (or, creates = False, any accepted one)
            return {"authorization": "Bearer test-token-0123456789"}, b'{"event": ...}'

        def skipped_delivery(self):         # one your plugin answers "skipped" (None: none)
            ...

        def forged(self, headers, body):    # the same delivery with a wrong credential (None: unsigned)
            return {**headers, "authorization": "Bearer wrong"}

The hostile-body test needs hypothesis (skipped without it).
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

__all__ = ["MISSING", "SourceConformance", "hub_app", "hub_test_client", "json_paths", "replaced"]

Delivery = tuple[Mapping[str, str], bytes]


def hub_test_client(tmp_path: Path, env: Mapping[str, str], raw: Mapping[str, Any] | None = None) -> Any:
    """A litestar TestClient on the real app with every installed plugin, on a new SQLite file."""
    from litestar.testing import TestClient

    from hub.app import create_app
    from hub.config import build_settings
    from hub.plugins import build_plugin_manager, config_sections

    pm = build_plugin_manager()
    tables = {key: dict(value) for key, value in (raw or {}).items()}
    tables["database"] = {**tables.get("database", {}), "url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"}
    settings = build_settings(tables, config_sections(pm), env=dict(env))
    return TestClient(app=create_app(settings, pm, start_worker=False, migrate=True))


@pytest.fixture
def hub_app(tmp_path: Path) -> Any:
    """pytest fixture (this module is a pytest plugin, entry point ``pytest11``):
    ``with hub_app(env={...}, config={...}) as client:`` the real hub with every installed plugin."""
    return lambda env=None, config=None: hub_test_client(tmp_path, env or {}, config)


def _one_line_error(response: Any) -> None:
    body = response.json()
    assert body.get("success") is False, body
    assert isinstance(body.get("error"), str) and body["error"] and "\n" not in body["error"], body


class SourceConformance:
    """What every source plugin must do. Set ``source`` and ``env``, implement ``delivery``."""

    #: The source's name (``/api/<source>/webhook``).
    source: str = ""
    #: Environment for the hub: the plugin's secrets (a test value, never a real one).
    env: Mapping[str, str] = {}
    #: config.toml tables for the hub (``{"pagerduty": {...}}``).
    config: Mapping[str, Any] = {}
    #: Whether ``delivery()`` creates an issue (False: a source that only updates linked issues).
    creates: bool = True
    #: Examples the hostile-body test tries (each a generated body; more finds more, slower).
    hostile_examples: int = 100

    def delivery(self) -> Delivery:
        """Headers (lower-case names) and body of a valid delivery, signed or authenticated."""
        raise NotImplementedError

    def skipped_delivery(self) -> Delivery | None:
        """A valid delivery the plugin answers with a skip (None: it has none)."""
        return None

    def forged(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, str] | None:
        """``headers`` with a wrong signature or credential for ``body``; None: the source is unsigned."""
        return None

    @pytest.fixture
    def client(self, tmp_path: Path) -> Iterator[Any]:
        """The hub, running, with this plugin installed."""
        with hub_test_client(tmp_path, self.env, self.config) as client:
            yield client

    def _post(self, client: Any, headers: Mapping[str, str], body: bytes) -> Any:
        headers = {"content-type": "application/json", **headers}
        return client.post(f"/api/{self.source}/webhook", content=body, headers=headers)

    def test_conformance_source_is_served(self, client: Any) -> None:
        """GET /api/<source>/webhook answers with the source's description."""
        answer = client.get(f"/api/{self.source}/webhook")
        assert answer.status_code == 200 and answer.json()["status"] == "ok"

    def test_conformance_bad_signature_is_refused(self, client: Any) -> None:
        """A forged delivery is answered 401, one line, and makes no issue."""
        headers, body = self.delivery()
        forged = self.forged(headers, body)
        if forged is None:
            pytest.skip(f"{self.source} deliveries are not signed")
        refused = self._post(client, forged, body)
        assert refused.status_code == 401, refused.text
        _one_line_error(refused)
        for value in self.env.values():
            assert value not in refused.text
        if self.creates:
            created = self._post(client, headers, body)
            assert created.status_code == 200 and "deduplicated" not in created.json(), created.text

    def test_conformance_duplicates_are_idempotent(self, client: Any) -> None:
        """The same delivery twice: one issue; the second answer is a duplicate's, or the first answer again."""
        headers, body = self.delivery()
        first = self._post(client, headers, body)
        second = self._post(client, headers, body)
        assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
        if self.creates:
            assert "issue" in first.json() and "deduplicated" not in first.json(), first.text
            assert second.json()["issue"] == first.json()["issue"], second.text
            # Deduplicated, or (a replayed delivery id or body) answered with the first answer.
            assert second.json().get("deduplicated") or second.json() == first.json(), second.text
        else:
            assert second.json().get("skipped") == first.json().get("skipped"), (first.text, second.text)

    def test_conformance_skip_answers_are_well_formed(self, client: Any) -> None:
        """A skip is 200 ``{"success": true, "skipped": true, "reason": <one line>}``."""
        skipped = self.skipped_delivery()
        if skipped is None:
            pytest.skip(f"{self.source} has no skipped delivery to show")
        answer = self._post(client, *skipped)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["success"] is True and body["skipped"] is True, body
        assert isinstance(body["reason"], str) and body["reason"] and "\n" not in body["reason"], body

    def test_conformance_hostile_bodies_are_never_a_server_error(self, client: Any) -> None:
        """Any field of the valid delivery replaced by a hostile value, and random bytes: never 5xx."""
        hypothesis = pytest.importorskip("hypothesis")
        strategies = hypothesis.strategies
        headers, body = self.delivery()
        valid = json.loads(body)
        values = strategies.one_of(
            strategies.none(), strategies.booleans(), strategies.integers(), strategies.floats(allow_nan=False),
            strategies.text(), strategies.just("\u0000\ud800"), strategies.just([]), strategies.just({}),
            strategies.integers(min_value=10**20, max_value=10**30), strategies.just("x" * 20_000))
        paths = json_paths(valid)

        @hypothesis.settings(max_examples=self.hostile_examples, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(strategies.sampled_from(paths) if paths else strategies.just(()), values,
                          strategies.binary(max_size=256))
        def hostile(path: tuple, value: Any, noise: bytes) -> None:
            for candidate in (json.dumps(replaced(valid, path, value)).encode(), noise):
                answer = self._post(client, headers, candidate)
                assert answer.status_code < 500, answer.text
                if answer.status_code >= 400:
                    _one_line_error(answer)

        hostile()

    def test_conformance_hooks_are_documented(self) -> None:
        """Every hook the plugin implements is a hub hook, and has a docstring."""
        from hub import hookspecs
        from hub.plugins import build_plugin_manager

        pm = build_plugin_manager()
        serving = [plugin for plugin in pm.get_plugins()
                   if any(source.name == self.source for result in [getattr(plugin, "register_sources", None)]
                          if result is not None for source in (result() or []))]
        assert serving, f"no installed plugin serves {self.source}"
        for plugin in serving:
            for name, function in inspect.getmembers(plugin, callable):
                if hasattr(function, "hub_impl"):
                    # ``@hookimpl(specname=...)`` implements a hook under another function name.
                    name = function.hub_impl.get("specname") or name
                    assert hasattr(hookspecs, name), f"{name} is not a hub hook"
                    assert (function.__doc__ or "").strip(), f"hook {name} of {self.source} has no docstring"


#: ``replaced(..., MISSING)`` removes the key instead of replacing its value.
MISSING = object()


def json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a JSON document (keys and list indexes; the first three items of a list),
    the root excluded: where a hostile value can be put."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += json_paths(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced by ``value`` (the key removed for
    ``MISSING``; the empty path replaces the whole document, None for ``MISSING``)."""
    if not path:
        return None if value is MISSING else value
    result = copy.deepcopy(document)
    target = result
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result
