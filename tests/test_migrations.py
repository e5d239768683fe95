"""The migrations create exactly the models: autogenerate finds nothing to do, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import hub.models  # noqa: F401
from hub.db import sync_url


def _of_dialect(dialect: str):
    # An index made for one database only (``Index(...).ddl_if(dialect=...)``, the trigram index
    # of PostgreSQL) is compared on that database only.
    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect)
    return include


def test_autogenerate_diff_is_empty(database_url):
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": _of_dialect(connection.dialect.name)})
            diff = compare_metadata(context, SQLModel.metadata)
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"chipp_issue", "chipp_external_issue", "chipp_label", "chipp_issue_label", "chipp_comment",
            "hub_delivery", "hub_job", "hub_cache", "chipp_issue_number"} <= tables


def test_external_issue_has_the_seed_columns(database_url):
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            columns = {column["name"] for column in inspector.get_columns("chipp_external_issue")}
            uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints("chipp_external_issue")]
            foreign = inspector.get_foreign_keys("chipp_external_issue")[0]
    finally:
        engine.dispose()
    assert columns == {"id", "issue_id", "source", "external_id", "external_url", "metadata", "created_at"}
    assert ("source", "external_id") in uniques
    assert foreign["referred_table"] == "chipp_issue" and foreign["options"].get("ondelete") == "CASCADE"


def test_issue_source_is_filled_for_issues_made_before_it_existed(tmp_path):
    from hub.db import upgrade_sync

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_sync(url, "0002")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO chipp_issue (id, number, identifier, title, description, priority, status, created_at, "
                "updated_at) VALUES ('i1', 1, 'CHIPP-1', 't', '', 'P3', 'open', '2026-01-01', '2026-01-01')"))
            connection.execute(sa.text(
                "INSERT INTO chipp_external_issue (id, issue_id, source, external_id, created_at) "
                "VALUES ('l1', 'i1', 'sentry', '42', '2026-01-01')"))
        upgrade_sync(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT source FROM chipp_issue")).scalar_one() == "sentry"
    finally:
        engine.dispose()
