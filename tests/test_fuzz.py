"""Property-based fuzzing of the Sentry webhook: whatever arrives, signed, never a 5xx, never a stray row."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from hub.db import sync_url
from hostile import ANY_TEXT, DATE_KEYS, EXTREME_DATES, NON_FINITE, hostile
from support import FIXTURES, MISSING, SENTRY_SECRET, sentry_headers, sync_client, with_value

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


def _at(document: Any, path: tuple) -> Any:
    for key in path:
        document = document[key]
    return document
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=False), st.text(max_size=50), st.just("x" * 100_000), st.just([]), st.just({}),
    st.lists(st.integers(), max_size=3), st.just("\u0000\ud7ff\ue000"), st.just("-1e309"),
    # Generated classes: non-finite numbers (json.dumps writes NaN, Infinity), any code point (lone
    # surrogates become \udXXX escapes), deep nesting with a NUL, extreme dates, wrong types.
    hostile(),
)
#: Every date field of the delivery.
DATE_PATHS = [path for path in PATHS if path[-1] in DATE_KEYS]
#: Every string field of the delivery.
TEXT_PATHS = [path for path in PATHS if isinstance(_at(VALID, path), str)]


def mutated(path: tuple, value: Any) -> bytes:
    return with_value(VALID, path, value)


class Counter:
    """Counts rows with a synchronous engine (the app runs on the test client's own loop)."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)

    def __call__(self) -> tuple[int, int, int]:
        # A rejected delivery is logged (status >= 400) and changes nothing else: only accepted
        # deliveries are counted here.
        with self.engine.connect() as connection:
            return tuple(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                         for table in ("chipp_issue", "chipp_external_issue",
                                       "hub_delivery WHERE status IS NULL OR status < 400"))


def client_for(database_url: str) -> TestClient:
    return sync_client(database_url, {"SENTRY_CLIENT_SECRET": SENTRY_SECRET})


def check(client: TestClient, rows: Counter, body: bytes) -> int:
    before = rows()
    response = client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code != 200:
        assert rows() == before, "a rejected delivery left rows behind"
        assert response.json()["error"]
        assert "\n" not in response.json()["error"]  # a one-line reason
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


def test_extreme_dates_in_every_date_field_are_stored(database_url):
    """A date nobody can use (year 9999 at -12:00, year 1 at +14:00, February 30th) is left out of
    the description: the delivery is stored (2xx), never a 400 or a 500."""
    rows = Counter(database_url)
    with client_for(database_url) as client:
        @FUZZ
        @given(st.sampled_from(DATE_PATHS), EXTREME_DATES)
        def extreme_date(path: tuple, when: str) -> None:
            assert check(client, rows, mutated(path, when)) == 200

        extreme_date()


def test_any_text_in_every_string_field(database_url):
    """Lone surrogates, NUL and every other code point, in every string field: 2xx or a one-line 400."""
    rows = Counter(database_url)
    with client_for(database_url) as client:
        @FUZZ
        @given(st.sampled_from(TEXT_PATHS), ANY_TEXT)
        def any_text(path: tuple, value: str) -> None:
            check(client, rows, mutated(path, value))

        any_text()


def test_non_finite_numbers_anywhere(database_url):
    """NaN, Infinity, 1e400 or 2**70 in any field (or where an object was): 2xx or a one-line 400."""
    rows = Counter(database_url)
    with client_for(database_url) as client:
        @FUZZ
        @given(st.sampled_from(PATHS), st.one_of(NON_FINITE, st.just("1e400")))
        def non_finite(path: tuple, value: Any) -> None:
            body = mutated(path, "<<raw>>" if value == "1e400" else value).replace(b'"<<raw>>"', b"1e400")
            check(client, rows, body)

        non_finite()


# parse_payload decodes with msgspec and falls back to the standard library, whose verdict is
# the rule: what either takes, the hub takes as the standard library reads it.
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=20)


def _standard(body: bytes) -> Any:
    # The standard library itself with the hub's rules (not hub.ingest's own fallback, which
    # would then be compared with itself wherever msgspec refuses).
    from hub.ingest import MAX_NESTING, _finite, _no_constant

    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        return ("refused", None)
    return ("ok", value) if _depth(value) <= MAX_NESTING else ("refused", None)


def _depth(value: Any) -> int:
    # Levels of objects and arrays, written here, not hub.ingest's own walk: the test must not
    # compare the hub with itself.
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def _hub(body: bytes) -> Any:
    from hub.ingest import parse_payload

    try:
        return ("ok", parse_payload(body))
    except ValueError:
        return ("refused", None)


@pytest.mark.parametrize("shape", ["[{}]", '{{"k": {}}}'])
def test_the_nesting_limit_is_exactly_max_nesting(shape):
    """Generated values stay far from the limit: its edge, on both sides, by hand."""
    from hub.ingest import MAX_NESTING, parse_payload

    def nested(depth: int) -> bytes:
        body = "1"
        for _ in range(depth):
            body = shape.format(body)
        return body.encode()

    assert _depth(parse_payload(nested(MAX_NESTING))) == MAX_NESTING
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_NESTING} levels"):
        parse_payload(nested(MAX_NESTING + 1))
    for depth in (MAX_NESTING, MAX_NESTING + 1):  # the standard library's verdict with the rule agrees
        assert _standard(nested(depth))[0] == ("ok" if depth <= MAX_NESTING else "refused")


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_parsing_agrees_with_the_standard_library_on_json(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    (verdict, parsed), (expected, standard) = _hub(body), _standard(body)
    assert verdict == expected
    # Dumped, so that 1 and 1.0 and True, or 0 and -0.0, count as different values.
    assert json.dumps(parsed, sort_keys=True) == json.dumps(standard, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.text(alphabet='{}[]":,.-+eE0123456789 \\u\x00tfnalsrNIy', max_size=40)
                 .map(lambda text: text.encode("utf-8", "surrogatepass"))))
def test_parsing_agrees_with_the_standard_library_on_near_json(body):
    verdict, value = _hub(body)
    expected, standard_value = _standard(body)
    assert verdict == expected
    if verdict == "ok":
        assert json.dumps(value, sort_keys=True) == json.dumps(standard_value, sort_keys=True)
