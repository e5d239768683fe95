"""Every statement the store runs, generated from the table objects, once per dialect.

Simple statements are SQLAlchemy Core, compiled once per dialect to the driver's parameter
style (psycopg ``%(name)s``, sqlite3 ``:name``) and cached. The one shape Core does not build
well, PostgreSQL's "insert these rows into these tables, gated by the first" as data-modifying
CTEs over ``VALUES`` (one row) or ``unnest`` of arrays (many rows), is composed here from the
same table objects (``pg_rows_insert``). No column list is typed twice: each comes from
``hub.store.tables.shape``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.sql.elements import ClauseElement

from hub.store.tables import DELIVERIES, ISSUES, LABELS, LINK_STATES, LINKS, NUMBERS, shape

__all__ = ["Statement", "Step", "insert", "advance_link_state", "param", "pg_rows_insert", "set_issue_columns"]

DIALECTS = {"postgresql": pg_psycopg.dialect(), "sqlite": sqlite.dialect(paramstyle="named")}


class Statement:
    """One statement, built for a dialect on first use and kept.

    ``reads``: the tables whose columns its result rows carry (to decode them).
    """

    def __init__(self, name: str, build: Callable[[str], str | ClauseElement], reads: tuple[sa.Table, ...] = (),
                 table: sa.Table | None = None, column_keys: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.build = build
        self.reads = reads
        #: the table whose columns the parameters are (to encode them), if any
        self.table = table
        self.column_keys = column_keys
        self._sql: dict[str, str] = {}

    def sql(self, dialect: str) -> str:
        """The statement's text for ``dialect`` (``postgresql`` or ``sqlite``)."""
        text = self._sql.get(dialect)
        if text is None:
            built = self.build(dialect)
            if isinstance(built, ClauseElement):
                kwargs = {"column_keys": list(self.column_keys)} if self.column_keys else {}
                built = str(built.compile(dialect=DIALECTS[dialect], **kwargs))
            text = self._sql[dialect] = built
        return text

    def __repr__(self) -> str:
        return f"Statement({self.name})"


def _insert_module(dialect: str):  # noqa: ANN202 - postgresql.insert or sqlite.insert
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@lru_cache(maxsize=None)
def insert(table: sa.Table, *, on_conflict: tuple[str, ...] = (), returning: str | None = None) -> Statement:
    """``INSERT INTO table (every column) VALUES (...)``, parameters named as the columns.

    One Statement per shape, whoever asks (its text is compiled once per dialect).

    ``on_conflict``: the unique columns whose conflict makes the insert do nothing;
    ``returning``: a column to return (no row back when the conflict skipped the insert).
    """
    def build(dialect: str) -> ClauseElement:
        built = _insert_module(dialect)(table)
        if on_conflict:
            built = built.on_conflict_do_nothing(index_elements=list(on_conflict))
        if returning:
            built = built.returning(table.c[returning])
        return built

    return Statement(f"insert {table.name}", build, table=table, column_keys=shape(table).columns)


@dataclass(frozen=True)
class Step:
    """One table of a multi-table insert. The first step of a gated insert is the gate:
    ``on_conflict`` decides whether a record's rows are written at all, and ``returning`` is the
    column the other steps' ``gate_column`` must match."""

    table: sa.Table
    gate_column: str | None = None
    on_conflict: tuple[str, ...] = ()
    returning: str | None = None


def _pg_rows(step: Step, index: int, form: str) -> str:
    """The rows of ``step`` as a relation ``r`` of the table's own row type, from one JSON
    parameter ``s<i>``: an object (one row) or an array of them (many rows).

    One parameter per table instead of one per column: psycopg adapts each parameter in
    Python, JSON text is made in C, and PostgreSQL converts each field to its column's type.
    """
    quote = DIALECTS["postgresql"].identifier_preparer.quote
    function = "jsonb_populate_record" if form == "one" else "jsonb_populate_recordset"
    return f"{function}(NULL::{quote(step.table.name)}, %(s{index})s::jsonb) AS r"


@lru_cache(maxsize=64)
def pg_rows_insert(steps: tuple[Step, ...], forms: tuple[str | None, ...]) -> str:
    """One PostgreSQL statement inserting rows into several tables, atomically.

    ``forms[i]`` is how step i's rows come, as JSON in parameter ``s<i>``: ``"one"`` (an object),
    ``"many"`` (an array of objects) or None (no rows: the step is left out).
    When the first step has ``on_conflict``, it is the gate: its rows go in first, in one lock
    order (no deadlock between two statements), a conflict skips a row, and every later step
    writes only the rows whose ``gate_column`` matches a gate row written; the statement returns
    the gate's ``returning`` column of the rows written. Foreign keys are checked at the end of
    the statement, so the order of the steps does not matter to them.
    """
    quote = DIALECTS["postgresql"].identifier_preparer.quote
    parts: list[str] = []
    gate = steps[0] if steps[0].on_conflict else None
    for index, (step, form) in enumerate(zip(steps, forms)):
        if form is None:
            continue
        table = step.table
        columns = ", ".join(quote(name) for name in shape(table).columns)
        # Named, not r.*: a table's columns in the database are in migration order, which
        # need not be the model's.
        select = f"SELECT {', '.join(f'r.{quote(name)}' for name in shape(table).columns)} " \
                 f"FROM {_pg_rows(step, index, form)}"
        if step is gate:
            conflict = ", ".join(quote(name) for name in step.on_conflict)
            sql = (f"INSERT INTO {quote(table.name)} ({columns}) {select} ORDER BY {conflict} "
                   f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(step.returning)}")
        elif gate is not None:
            sql = (f"INSERT INTO {quote(table.name)} ({columns}) {select} "
                   f"WHERE r.{quote(step.gate_column)} IN (SELECT {quote(gate.returning)} FROM s0)")
        else:
            sql = f"INSERT INTO {quote(table.name)} ({columns}) {select}"
        parts.append(f"s{index} AS ({sql})")
    tail = f"SELECT {quote(gate.returning)} FROM s0" if gate is not None else "SELECT 1"
    return "WITH " + ",\n".join(parts) + "\n" + tail


# -- reads ---------------------------------------------------------------------------------

#: The issue and link columns a hook's IssueView and LinkView are built from.
_LINK_COLUMNS = ("source", "external_id", "external_url", "metadata")


def _linked_issue(where: Callable[[], sa.ColumnElement]) -> Callable[[str], ClauseElement]:
    def build(_dialect: str) -> ClauseElement:
        return (sa.select(ISSUES, *(LINKS.c[name] for name in _LINK_COLUMNS))
                .join(LINKS, LINKS.c.issue_id == ISSUES.c.id).where(where()))
    return build


FIND_LINKED = Statement(
    "find linked issue",
    _linked_issue(lambda: sa.and_(LINKS.c.source == sa.bindparam("source"),
                                  LINKS.c.external_id == sa.bindparam("external_id"))),
    reads=(ISSUES, LINKS),
)

def _pg_find_linked_many(_dialect: str) -> str:
    # LATERAL keeps it one unique-index probe per lookup in any plan: the statements run on a
    # generic plan (hub.store.postgres), made once per connection whatever the tables' size.
    quote = DIALECTS["postgresql"].identifier_preparer.quote
    issue_columns = ", ".join(f"i.{quote(name)}" for name in shape(ISSUES).columns)
    link_columns = ", ".join(f"l.{quote(name)}" for name in _LINK_COLUMNS)
    return (f"SELECT r.ord, f.* FROM unnest(%(source)s::TEXT[], %(external_id)s::TEXT[]) WITH ORDINALITY "
            f"AS r(source, external_id, ord) CROSS JOIN LATERAL (SELECT {issue_columns}, {link_columns} "
            f"FROM {quote(LINKS.name)} AS l JOIN {quote(ISSUES.name)} AS i ON i.id = l.issue_id "
            f"WHERE l.source = r.source AND l.external_id = r.external_id) AS f")


#: PostgreSQL: FIND_LINKED for many lookups at once (``source`` and ``external_id`` arrays);
#: rows carry ``ord``, the 1-based position of their lookup.
FIND_LINKED_MANY = Statement("find linked issues", _pg_find_linked_many, reads=(ISSUES, LINKS))

EARLIER_RESPONSE = Statement(
    "earlier response",
    lambda _dialect: sa.select(DELIVERIES.c.response).where(
        DELIVERIES.c.source == sa.bindparam("source"),
        sa.or_(DELIVERIES.c.request_id == sa.bindparam("request_id"),
               DELIVERIES.c.body_sha256 == sa.bindparam("body_sha256"))),
    reads=(DELIVERIES,),
)

# -- labels, numbers -------------------------------------------------------------------------

INSERT_LABEL = insert(LABELS, on_conflict=("name",))
LABEL_ID = Statement("label id", lambda _d: sa.select(LABELS.c.id).where(LABELS.c.name == sa.bindparam("name")))


def _numbers(dialect: str) -> str:
    table = DIALECTS[dialect].identifier_preparer.quote(NUMBERS.name)
    if dialect == "postgresql":
        # The SERIAL's sequence hands out numbers to every process without a lock; rows are
        # not needed on PostgreSQL (chipp_issue.number is UNIQUE either way).
        return f"SELECT nextval(pg_get_serial_sequence('{NUMBERS.name}', 'number')) AS number " \
               f"FROM generate_series(1, %(count)s)"
    return f"INSERT INTO {table} DEFAULT VALUES RETURNING number"


#: PostgreSQL: ``count`` numbers at once. SQLite: one number per execution (AUTOINCREMENT).
TAKE_NUMBERS = Statement("take numbers", _numbers)


# -- changes to an issue -------------------------------------------------------------------

def param(dialect: str, name: str) -> str:
    """A named parameter in the driver's style."""
    return f"%({name})s" if dialect == "postgresql" else f":{name}"


def set_issue_columns(columns: tuple[str, ...]) -> Statement:
    """``UPDATE chipp_issue SET <columns>, updated_at WHERE id = :issue_id AND <columns[0]> differs``.

    Parameters are named as the columns. Returns the id when it changed something: a change
    that is already true (closing a closed issue) writes nothing, however stale the caller's
    view of the issue. (Written out rather than Core: Core reserves a column's own name for the
    parameters of its SET clause.)
    """
    guard = columns[0]

    def build(dialect: str) -> str:
        quote = DIALECTS[dialect].identifier_preparer.quote
        assignments = ", ".join(f"{quote(name)} = {param(dialect, name)}" for name in (*columns, "updated_at"))
        differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
        return (f"UPDATE {quote(ISSUES.name)} SET {assignments} WHERE {quote('id')} = {param(dialect, 'issue_id')} "
                f"AND {quote(guard)} {differs} {param(dialect, guard)} RETURNING {quote('id')}")

    return Statement(f"set issue {'/'.join(columns)}", build, table=ISSUES)


def advance_link_state() -> Statement:
    """Record ``state_at`` for ``(source, external_id)`` unless a later one is recorded: returns a
    row when the state time moved forward (or stayed); none when the new one is older."""
    def build(dialect: str) -> str:
        quote = DIALECTS[dialect].identifier_preparer.quote
        table, state_at = quote(LINK_STATES.name), quote("state_at")
        names = ", ".join(quote(name) for name in shape(LINK_STATES).columns)
        values = ", ".join(param(dialect, name) for name in shape(LINK_STATES).columns)
        return (f"INSERT INTO {table} ({names}) VALUES ({values}) "
                f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET {state_at} = excluded.{state_at} "
                f"WHERE {table}.{state_at} <= excluded.{state_at} RETURNING {state_at}")

    return Statement("advance link state", build, table=LINK_STATES)
