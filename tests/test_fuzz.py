"""Property-based fuzzing of the Sentry webhook: whatever arrives, signed, never a 5xx, never a stray row."""

from __future__ import annotations

import copy
import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from hub.app import create_app
from hub.db import sync_url
from hub.plugins import build_plugin_manager
from support import FIXTURES, SENTRY_SECRET, make_settings, sentry_headers

VALID = json.loads((FIXTURES / "sentry" / "mocks-integration-platform-example" / "issue-created.json").read_text())
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


PATHS = paths(VALID)
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=False), st.text(max_size=50), st.just("x" * 100_000), st.just([]), st.just({}),
    st.lists(st.integers(), max_size=3), st.just("\u0000\ud7ff\ue000"), st.just("-1e309"),
)
MISSING = object()


def mutated(path: tuple, value: Any) -> bytes:
    payload = copy.deepcopy(VALID)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(payload).encode()


class Counter:
    """Counts rows with a synchronous engine (the app runs on the test client's own loop)."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)

    def __call__(self) -> tuple[int, int, int]:
        with self.engine.connect() as connection:
            return tuple(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                         for table in ("chipp_issue", "chipp_external_issue", "hub_delivery"))


def client_for(database_url: str) -> TestClient:
    pm = build_plugin_manager()
    app = create_app(make_settings(database_url, env={"SENTRY_CLIENT_SECRET": SENTRY_SECRET}, pm=pm), pm,
                     start_worker=False, migrate=False)
    return TestClient(app=app)


def check(client: TestClient, rows: Counter, body: bytes) -> int:
    before = rows()
    response = client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code != 200:
        assert rows() == before, "a rejected delivery left rows behind"
        assert response.json()["error"]
    return response.status_code


def test_random_bytes_are_never_a_server_error(database_url):
    rows = Counter(database_url)
    with client_for(database_url) as client:
        @FUZZ
        @given(st.binary(max_size=2048))
        def random_bytes(body: bytes) -> None:
            check(client, rows, body)

        random_bytes()


def test_truncated_json_is_rejected_cleanly(database_url):
    rows = Counter(database_url)
    whole = json.dumps(VALID).encode()
    with client_for(database_url) as client:
        @FUZZ
        @given(st.integers(min_value=0, max_value=len(whole) - 1))
        def truncated(cut: int) -> None:
            assert check(client, rows, whole[:cut]) == 400

        truncated()


def test_every_field_replaced_by_a_wrong_value(database_url):
    rows = Counter(database_url)
    with client_for(database_url) as client:
        @FUZZ
        @given(st.sampled_from(PATHS), st.one_of(WRONG, st.just(MISSING)))
        def wrong_field(path: tuple, value: Any) -> None:
            check(client, rows, mutated(path, value))

        wrong_field()


def test_deep_nesting_is_refused(database_url):
    rows = Counter(database_url)
    with client_for(database_url) as client:
        for depth in (1_000, 100_000):
            assert check(client, rows, b'{"a":' * depth + b"1" + b"}" * depth) == 400
