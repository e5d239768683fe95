"""The tables the store writes, and how a Python value becomes a stored one and back.

Everything here is derived from the SQLModel tables in ``hub.models``: column lists, defaults,
which columns hold JSON or times. Adding a column there is enough for every write and read of
the store to carry it (docs/architecture.md, "Adding a column").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Mapping

import msgspec
import sqlalchemy as sa
from sqlmodel import SQLModel

from hub.models import Comment, Delivery, ExternalIssue, Issue, IssueEvent, IssueLabel, IssueNumber, Job, Label, \
    LinkState, as_utc
from hub.types import IssueView, LinkView

__all__ = ["COMMENTS", "DELIVERIES", "EVENTS", "ISSUES", "ISSUE_LABELS", "JOBS", "LABELS", "LINKS", "LINK_STATES", "NUMBERS", "LinkedIssue",
           "Shape", "decode_row", "dump_json", "encode_row", "load_json", "issue_view", "link_view", "shape", "storable"]

ISSUES = Issue.__table__
LINKS = ExternalIssue.__table__
LABELS = Label.__table__
ISSUE_LABELS = IssueLabel.__table__
COMMENTS = Comment.__table__
DELIVERIES = Delivery.__table__
JOBS = Job.__table__
NUMBERS = IssueNumber.__table__
EVENTS = IssueEvent.__table__
LINK_STATES = LinkState.__table__

_MODELS: dict[str, type[SQLModel]] = {model.__tablename__: model for model in
                                      (Issue, ExternalIssue, Label, IssueLabel, Comment, Delivery, Job, IssueNumber,
                                       IssueEvent, LinkState)}

# A lone UTF-16 surrogate (from a JSON escape such as "\ud800" with no partner): no database
# can store it as UTF-8 text.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: msgspec's encoder: about 20 times json.dumps' speed on a webhook's rows (measured in
#: docs/performance.md), UTF-8 as it is, NUL escaped as ``\u0000``, datetimes as RFC 3339.
_encode = msgspec.json.Encoder().encode


def _storable_text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _LONE_SURROGATE.sub("\ufffd", value)
    return value


def storable(value: Any) -> Any:
    """``value`` with what no database can store replaced by U+FFFD, however deeply nested.

    PostgreSQL refuses U+0000 in text and JSONB, and neither database can encode a lone
    surrogate; a sender's error message may carry either, and the row must still be written.
    Iterative, so nesting as deep as the JSON parser allows cannot exhaust the stack.
    """
    if isinstance(value, str):
        return _storable_text(value)
    if not isinstance(value, (dict, list, tuple)):
        return value
    if isinstance(value, (dict, list)):
        # The common case, checked in C: the encoder escapes U+0000 and refuses a lone surrogate,
        # so a value whose JSON has neither holds nothing to replace (the value itself returned).
        try:
            if b"\\u0000" not in _encode(value):
                return value
        except (UnicodeEncodeError, TypeError, ValueError, OverflowError, msgspec.EncodeError):
            pass  # a surrogate, or keys or values JSON has no form for: walk it
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, slot = stack.pop()
        if isinstance(item, str):
            parent[slot] = _storable_text(item)
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            parent[slot] = copy
            for key, child in item.items():
                key = _storable_text(key) if isinstance(key, str) else key
                copy[key] = None
                stack.append((child, copy, key))
        elif isinstance(item, (list, tuple)):
            items: list[Any] = [None] * len(item)
            parent[slot] = items
            stack.extend((child, items, index) for index, child in enumerate(item))
        else:
            parent[slot] = item
    return root[0]


@dataclass(frozen=True)
class Shape:
    """What the store knows of one table: its columns in order, their defaults, their kinds."""

    table: sa.Table
    columns: tuple[str, ...]
    #: column -> a value, or a zero-argument callable giving one, for a row that does not set it
    defaults: Mapping[str, Any]
    json_columns: frozenset[str]
    time_columns: frozenset[str]

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A full row of this table: ``values``, every other column its model default."""
        row: dict[str, Any] = {}
        for name in self.columns:
            if name in values:
                row[name] = values[name]
            else:
                default = self.defaults.get(name)
                row[name] = default() if callable(default) else default
        return row


def _shape(table: sa.Table) -> Shape:
    model = _MODELS[table.name]
    mapper = sa.inspect(model)
    defaults: dict[str, Any] = {}
    for attribute, column in mapper.columns.items():
        field = model.model_fields.get(attribute)
        if field is None or column.server_default is not None and field.default_factory is None:
            continue
        defaults[column.name] = field.default_factory if field.default_factory is not None else field.default
    return Shape(
        table=table,
        columns=tuple(column.name for column in table.columns),
        defaults=defaults,
        json_columns=frozenset(column.name for column in table.columns if isinstance(column.type, sa.JSON)),
        time_columns=frozenset(column.name for column in table.columns if isinstance(column.type, sa.DateTime)),
    )


#: Parameters of a statement that names no table: plain values.
_NO_TABLE = Shape(table=None, columns=(), defaults={}, json_columns=frozenset(), time_columns=frozenset())

_SHAPES = {table.name: _shape(table) for table in (ISSUES, LINKS, LABELS, ISSUE_LABELS, COMMENTS, DELIVERIES, JOBS,
                                                   NUMBERS, EVENTS, LINK_STATES)}


def shape(table: sa.Table) -> Shape:
    """The store's knowledge of ``table`` (built once, at import, from the SQLModel table)."""
    return _SHAPES[table.name]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


_decode = msgspec.json.Decoder().decode


def load_json(data: bytes | str) -> Any:
    """JSON the database sends back, parsed: msgspec, and the standard library for what it refuses."""
    try:
        return _decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return json.loads(data)


def dump_json(value: Any) -> str:
    """``value`` as JSON text any database stores.

    Only text that holds U+0000 (escaped ``\u0000``) or a lone surrogate (which UTF-8 cannot
    encode: the encoder refuses) can hold what a database refuses; only then is the value walked
    (``storable``) and dumped again. Most payloads are dumped once and never walked. Datetimes
    become ISO 8601. Anything the fast encoder refuses otherwise is dumped by the standard library,
    which says what is not JSON.
    """
    try:
        text = _encode(value)
    except UnicodeEncodeError:  # a lone surrogate
        text = _encode(storable(value))
    except (TypeError, msgspec.EncodeError, OverflowError):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    if b"\\u0000" in text:
        text = _encode(storable(value))
    return text.decode()


@lru_cache(maxsize=256)
def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's format for SQLite DateTime: UTC, no offset (read back as UTC). Cached: the
    # rows of one write share their time (created_at, updated_at, run_after...).
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def encode_row(dialect: str, table: sa.Table | None, row: Mapping[str, Any], json_wrapper: Callable[[Any], Any]
               ) -> dict[str, Any]:
    """``row`` as the driver of ``dialect`` takes it: text made storable, JSON wrapped
    (``json_wrapper``, which must dump with ``dump_json``), times as SQLite text.

    Keys that are not columns of ``table`` (statement parameters) pass through unchanged.
    """
    table_shape = _SHAPES[table.name] if table is not None else _NO_TABLE
    encoded: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            encoded[name] = None
        elif name in table_shape.json_columns:
            encoded[name] = json_wrapper(value)
        elif isinstance(value, str):
            encoded[name] = _storable_text(value)
        elif dialect == "sqlite" and name in table_shape.time_columns:
            encoded[name] = _sqlite_time(value)
        else:
            encoded[name] = value
    return encoded


def decode_row(dialect: str, tables: tuple[sa.Table, ...], row: Mapping[str, Any]) -> dict[str, Any]:
    """A row read by a driver, with times aware (UTC) and JSON parsed, whatever the dialect.

    A result column is decoded by the first of ``tables`` that has a column of its name.
    """
    decoded = dict(row)
    for name, value in row.items():
        if value is None:
            continue
        table_shape = next((_SHAPES[t.name] for t in tables if name in _SHAPES[t.name].columns), None)
        if table_shape is None:
            continue
        if name in table_shape.time_columns:
            decoded[name] = as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
        elif name in table_shape.json_columns and isinstance(value, str):
            decoded[name] = load_json(value)
    return decoded


@dataclass(frozen=True)
class LinkedIssue:
    """An issue found through its external link."""

    issue: IssueView
    link: LinkView


_ISSUE_VIEW_FIELDS = tuple(field.name for field in fields(IssueView))


def issue_view(row: Mapping[str, Any]) -> IssueView:
    """The read-only IssueView hooks receive, from a decoded ``chipp_issue`` row.

    Every field of IssueView is read from the column of the same name: a column added to both
    needs no edit here.
    """
    return IssueView(**{name: row[name] for name in _ISSUE_VIEW_FIELDS if name in row})


def link_view(row: Mapping[str, Any]) -> LinkView:
    """The read-only LinkView hooks receive, from a decoded ``chipp_external_issue`` row."""
    return LinkView(source=row["source"], external_id=row["external_id"], external_url=row["external_url"],
                    metadata=row["metadata"] or {})
