"""Every table of the hub, in one module.

``chipp_issue`` and ``chipp_external_issue`` keep the seed's names and columns; the rest are the
hub's own (labels, comments, the delivery log, the job outbox, the shared cache).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiToken",
    "CacheEntry",
    "Comment",
    "Delivery",
    "ExternalIssue",
    "Issue",
    "IssueLabel",
    "IssueNumber",
    "Job",
    "IssueEvent",
    "Label",
    "LoginAttempt",
    "LoginLink",
    "ServerSecret",
    "UserAccount",
    "UserSession",
]

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored in UTC): make them aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


#: The version (7) and variant (0b10) bits of a UUIDv7: cleared, then set.
_V7_CLEAR = ~(0xF << 76 | 0x3 << 62) & (1 << 128) - 1
_V7_SET = 0x7 << 76 | 0x2 << 62


def new_id() -> str:
    """A new primary key: a UUIDv7 (RFC 9562) as text, in the seed's uuid shape.

    Its first 48 bits are the time in milliseconds, the other 74 random bits (the version and
    variant bits as the RFC sets them): ids made one after another sort one after another, so
    each index on an id (every primary key, every ``issue_id``) grows at its right edge
    instead of at a random page. A random (v4) id dirtied a different index page per insert,
    and after each checkpoint wrote that whole page to the WAL again. Unique as v4 is: 74
    random bits per millisecond. The time it shows is the row's ``created_at`` anyway. An id is
    never a secret: tokens, sessions and login links are ``hub.auth.digests`` secrets, stored as
    digests, whose rows merely have an id.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return str(uuid.UUID(int=value & _V7_CLEAR | _V7_SET))


class IssueNumber(SQLModel, table=True):
    """The identifier sequence: one row per issue number handed out (gaps allowed).

    An AUTOINCREMENT table on SQLite and a SERIAL (a sequence) on PostgreSQL: unique under
    concurrent writers in many processes without locking ``chipp_issue``.
    """

    __tablename__ = "chipp_issue_number"
    __table_args__ = {"sqlite_autoincrement": True}

    number: int | None = Field(default=None, primary_key=True)


class Issue(SQLModel, table=True):
    """An issue in the tracker (the seed's ``chipp_issue``)."""

    __tablename__ = "chipp_issue"
    # One index per filter of the issue list, each ending in its order (newest first), so the
    # first page of any filter is read from an index, never sorted (keyset pagination). They
    # serve lookups by their first column too: no single-column index beside them (0006).
    __table_args__ = (
        sa.Index("ix_chipp_issue_newest", "created_at", "number"),
        sa.Index("ix_chipp_issue_status_newest", "status", "created_at", "number"),
        sa.Index("ix_chipp_issue_source_newest", "source", "created_at", "number"),
        sa.Index("ix_chipp_issue_assignee_newest", "assignee", "created_at", "number"),
        # By priority: P0 first, the oldest first within a priority (the queue to work through).
        sa.Index("ix_chipp_issue_priority_oldest", "priority", "created_at", "number"),
        # Search by title on PostgreSQL: trigrams serve ILIKE '%text%' (SQLite scans).
        sa.Index("ix_chipp_issue_title_trgm", "title", postgresql_using="gin",
                 postgresql_ops={"title": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    number: int = Field(unique=True)
    identifier: str = Field(unique=True, sa_type=sa.Text)
    title: str = Field(sa_type=sa.Text)
    description: str = Field(default="", sa_type=sa.Text)
    priority: str = Field(default="P3", max_length=2)
    status: str = Field(default="open", max_length=16)
    assignee: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: The source whose delivery made the issue (None for issues made otherwise).
    source: str | None = Field(default=None, sa_type=sa.Text)


class ExternalIssue(SQLModel, table=True):
    """A link from an issue to a record in another system; UNIQUE(source, external_id) deduplicates."""

    __tablename__ = "chipp_external_issue"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    issue_id: str = Field(
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    source: str = Field(sa_type=sa.Text)
    external_id: str = Field(sa_type=sa.Text)
    external_url: str | None = Field(default=None, sa_type=sa.Text)
    meta: dict | None = Field(default=None, sa_column=sa.Column("metadata", JSONType, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.current_timestamp()},
    )


class Label(SQLModel, table=True):
    """A label, created once by name and shared by issues."""

    __tablename__ = "chipp_label"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    name: str = Field(unique=True, sa_type=sa.Text)
    color: str = Field(default="#888888", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class IssueLabel(SQLModel, table=True):
    """Which labels an issue carries."""

    __tablename__ = "chipp_issue_label"

    issue_id: str = Field(
        sa_column=sa.Column(sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), primary_key=True)
    )
    label_id: str = Field(
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_label.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class Comment(SQLModel, table=True):
    """A comment on an issue. ``key`` (unique per issue) makes a plugin's comment idempotent."""

    __tablename__ = "chipp_comment"
    __table_args__ = (sa.UniqueConstraint("issue_id", "key"),)

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    issue_id: str = Field(
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    author: str = Field(default="hub", sa_type=sa.Text)
    body: str = Field(sa_type=sa.Text)
    key: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Delivery(SQLModel, table=True):
    """The delivery log: every webhook the hub answered, with what it changed and its body.

    Rejected deliveries (401, 400, 413, 415) have a row too, with their reason, no request id
    (a forged one must not block the real delivery) and a cut body. Headers are an allow-list,
    without signatures or credentials.
    """

    __tablename__ = "hub_delivery"
    __table_args__ = (sa.UniqueConstraint("source", "request_id"),
                      sa.UniqueConstraint("source", "body_sha256", name="uq_hub_delivery_source_body_sha256"),
                      # The delivery log's filters, each ending in its order (newest first).
                      sa.Index("ix_hub_delivery_source_newest", "source", "created_at", "id"),
                      sa.Index("ix_hub_delivery_outcome_newest", "outcome", "created_at", "id"))

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    source: str = Field(sa_type=sa.Text)
    request_id: str | None = Field(default=None, sa_type=sa.Text)
    event: str = Field(default="", sa_type=sa.Text)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    issue_id: str | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    headers: dict | None = Field(default=None, sa_type=JSONType)
    response: dict | None = Field(default=None, sa_type=JSONType)
    changes: list | None = Field(default=None, sa_type=JSONType)
    #: SHA-256 of the body of a delivery that changed an issue, for sources whose signature
    #: covers only the body (``Source.unique_bodies``): the same body re-sent changes nothing.
    body_sha256: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    #: The HTTP status the delivery was answered with (a rejected one's 401, 400, 413, 415 too).
    status: int | None = Field(default=None)
    #: The raw body as text (what replay and dry run push through the pipeline again); a
    #: rejected delivery's is cut to ``hub.store.writes.REJECTED_BODY_CHARS``.
    body: str | None = Field(default=None, sa_type=sa.Text)


class Job(SQLModel, table=True):
    """The outbox: slow work (enrichment) written in the delivery's transaction, run by the worker.

    status: queued -> running -> done | failed (queued again after a retryable failure).
    A running job whose ``locked_until`` has passed belongs to a dead process and is claimed again.
    """

    __tablename__ = "hub_job"
    __table_args__ = (sa.Index("ix_hub_job_due", "status", "run_after"),)

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    kind: str = Field(max_length=32)
    issue_id: str = Field(
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    source: str = Field(sa_type=sa.Text)
    payload: dict | None = Field(default=None, sa_type=JSONType)
    status: str = Field(default="queued", max_length=16)
    attempts: int = Field(default=0)
    run_after: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    locked_by: str | None = Field(default=None, sa_type=sa.Text)
    locked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class CacheEntry(SQLModel, table=True):
    """A row of the cache plugins share between processes (see hub.cache)."""

    __tablename__ = "hub_cache"

    namespace: str = Field(primary_key=True, sa_type=sa.Text)
    key: str = Field(primary_key=True, sa_type=sa.Text)
    value: Any = Field(default=None, sa_type=JSONType)
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class IssueEvent(SQLModel, table=True):
    """The issue's timeline: who changed what (``actor``: a source name, ``token:<name>``, ``user:<name>``)."""

    __tablename__ = "chipp_issue_event"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    issue_id: str = Field(
        sa_column=sa.Column(
            sa.Text, sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=32)
    actor: str = Field(sa_type=sa.Text)
    value: str | None = Field(default=None, sa_type=sa.Text)
    text: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ApiToken(SQLModel, table=True):
    """An API token: only the SHA-256 digest of the secret is kept (the secret is shown once)."""

    __tablename__ = "hub_token"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    name: str = Field(unique=True, sa_type=sa.Text)
    scope: str = Field(max_length=16)
    digest: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class UserAccount(SQLModel, table=True):
    """A person who logs in to the console; ``password_hash`` is argon2id."""

    __tablename__ = "hub_user"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    name: str = Field(unique=True, sa_type=sa.Text)
    scope: str = Field(max_length=16)
    password_hash: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class UserSession(SQLModel, table=True):
    """A login session: the cookie's SHA-256 digest, who it belongs to, until when.

    Deleting the account or the token a session was opened with deletes the session (CASCADE).
    """

    __tablename__ = "hub_session"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    digest: str = Field(unique=True, max_length=64)
    actor: str = Field(sa_type=sa.Text)
    scope: str = Field(max_length=16)
    user_id: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, sa.ForeignKey("hub_user.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    token_id: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, sa.ForeignKey("hub_token.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class LoginAttempt(SQLModel, table=True):
    """A failed login, by account and by address: the rate limit counts these across processes."""

    __tablename__ = "hub_login_attempt"
    __table_args__ = (sa.Index("ix_hub_login_attempt_key", "key", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    key: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class LoginLink(SQLModel, table=True):
    """A one-time login link (the first admin's, on a first start): digest, expiry, when used."""

    __tablename__ = "hub_login_link"

    id: str = Field(default_factory=new_id, primary_key=True, sa_type=sa.Text)
    digest: str = Field(unique=True, max_length=64)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ServerSecret(SQLModel, table=True):
    """A random server-side key every process shares (the CSRF signing key), made on first start."""

    __tablename__ = "hub_secret"

    name: str = Field(primary_key=True, sa_type=sa.Text)
    value: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class LinkState(SQLModel, table=True):
    """The source's own time of the last close or reopen applied for a record (``Change.at``).

    Kept by ``(source, external_id)``, beside the seed's ``chipp_external_issue`` rather than in
    it, and outliving the issue: a late or replayed state older than this is ignored.
    """

    __tablename__ = "hub_link_state"

    source: str = Field(primary_key=True, sa_type=sa.Text)
    external_id: str = Field(primary_key=True, sa_type=sa.Text)
    state_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
