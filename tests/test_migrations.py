"""The migrations create exactly the models: autogenerate finds nothing to do, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import hub.models  # noqa: F401
from hub.db import sync_url


def test_autogenerate_diff_is_empty(database_url):
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
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
