"""Hypothesis strategies for what a sender can put in a JSON field, shared by the fuzz tests.

Classes, not lists: non-finite and extreme numbers, text with every escape (lone surrogates and
control characters included), deep nesting with a NUL at the bottom, dates from year 1 to 9999
in every UTC offset, and values of the wrong type.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

__all__ = ["ANY_TEXT", "DATE_KEYS", "EXTREME_DATES", "NESTED", "NON_FINITE", "WRONG_TYPES", "hostile"]

#: Keys whose values Sentry sends as dates.
DATE_KEYS = frozenset({"firstSeen", "lastSeen", "datetime", "date_started", "date_created", "date_detected",
                       "date_closed", "dateCreated", "timestamp"})

NON_FINITE = st.one_of(st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(min_value=2**63 - 2, max_value=2**70), st.integers(min_value=-(2**70), max_value=-(2**63)))
#: Any code point: lone surrogates (written as \\udXXX escapes by json.dumps), NUL, controls, RTL marks.
ANY_TEXT = st.text(st.characters(codec=None, blacklist_categories=()), max_size=30)
_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
EXTREME_DATES = st.one_of(
    st.builds(lambda moment, zulu: moment.isoformat().replace("+00:00", "Z") if zulu else moment.isoformat(),
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                           timezones=_OFFSETS), st.booleans()),
    st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999Z",
                     "2024-02-30T00:00:00Z", "2024-12-01T25:00:00Z", "0000-00-00T00:00:00Z", "1e400", ""]),
)


def _nest(depth: int, outer_list: bool) -> Any:
    value: Any = "\u0000"
    for level in range(depth):
        value = [value] if (level % 2) == outer_list else {"a": value}
    return value


NESTED = st.builds(_nest, st.integers(min_value=1, max_value=400), st.booleans())
WRONG_TYPES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.just([]), st.just({}),
                        st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def hostile() -> st.SearchStrategy[Any]:
    """Any one value of the classes above."""
    return st.one_of(NON_FINITE, ANY_TEXT, NESTED, EXTREME_DATES, WRONG_TYPES)
