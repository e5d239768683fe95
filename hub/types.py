"""The values plugins and host hand each other.

Plain frozen dataclasses: a plugin builds them without touching Litestar, SQLAlchemy or pluggy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping

from pydantic import BaseModel

__all__ = [
    "Change",
    "ConfigSection",
    "Decision",
    "ExternalLinkDraft",
    "GiveUp",
    "IssueDraft",
    "IssueView",
    "LabelDraft",
    "LinkView",
    "RetryLater",
    "Section",
    "Sink",
    "Source",
    "Unavailable",
    "Verdict",
]


@dataclass(frozen=True)
class Source:
    """A webhook source a plugin serves: mounted at ``/api/<name>/webhook``.

    ``description`` and ``supported_events`` are what ``GET /api/<name>/webhook`` reports.
    ``log_prefix`` starts every log line about this source (``[Sentry Webhook]``).
    ``unique_bodies``: the source's signature covers only the body, and no two of its real
    deliveries have the same body: a body whose delivery changed an issue (within the
    delivery-log retention) changes nothing when it comes again, whatever its headers say, and
    is answered with the earlier answer.
    ``delivery_id_headers``: the headers that carry the source's id for one delivery, first
    present wins (Sentry's ``request-id``); a delivery whose id was seen is answered with the
    first answer. ``x-request-id`` is always tried last.
    ``kept_headers``: further headers worth keeping in the delivery log (what the delivery was:
    the event name, the hook); the delivery-id headers are kept too.
    ``secret_headers``: headers that carry a credential or a signature in this source's
    deliveries: never kept, whatever their name looks like.
    """

    name: str
    description: str
    supported_events: tuple[str, ...] = ()
    log_prefix: str = ""
    unique_bodies: bool = False
    delivery_id_headers: tuple[str, ...] = ()
    kept_headers: tuple[str, ...] = ()
    secret_headers: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """The log prefix, defaulting to ``[<name> webhook]``."""
        return self.log_prefix or f"[{self.name} webhook]"


@dataclass(frozen=True)
class Sink:
    """An outside tracker a plugin publishes issues to (GitHub Issues, Linear, Jira).

    The host queues a ``publish`` job for the sink whenever an issue is created or changes, and
    keeps the outside record as the issue's link with ``source = name`` (one per issue).
    Changes made by ``name`` itself, or by an actor ``<name>:<who>`` (its webhook bringing a
    change back), are never queued for it: nothing echoes back to where it came from.
    ``command``, when set, names the CLI group of ``hub <command> sync``.
    """

    name: str
    description: str
    command: str | None = None
    log_prefix: str = ""

    @property
    def prefix(self) -> str:
        """The log prefix, defaulting to ``[<name> sink]``."""
        return self.log_prefix or f"[{self.name} sink]"

    def mirrors(self, actor: str | None) -> bool:
        """Whether a change by ``actor`` came from this sink (and so must not go back to it)."""
        return actor is not None and (actor == self.name or actor.startswith(self.name + ":"))


@dataclass(frozen=True)
class ConfigSection:
    """A plugin's section of config.toml.

    ``model`` validates the section (it should forbid unknown keys so typos are reported).
    ``env`` maps model fields to environment variables that override or supply them;
    fields listed in ``secrets`` may only come from the environment, never from the file.
    """

    name: str
    model: type[BaseModel]
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    """The result of checking a webhook's authenticity. ``ok=False`` answers 401 with ``reason``."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    """What to do with a verified, parsed webhook.

    kind:
      - ``create``: build an issue (``build_issue``) unless ``external_id`` is already linked,
        in which case the delivery is deduplicated and ``external_update`` may change the issue.
      - ``update``: only change the issue already linked to ``external_id`` (``external_update``);
        skipped with a reason when nothing is linked.
      - ``skip``: answer 200 ``{"success": true, "skipped": true, "reason": ...}``.
      - ``reject``: the payload is malformed; answer 400 with ``reason``.
      - ``split``: the delivery carries several records (Alertmanager's group of alerts): each
        of ``parts`` (create, update or skip Decisions) is handled as a delivery of its own, in
        order, and the answer lists each part's answer under ``parts``.

    ``response`` is merged into the JSON answer (e.g. ``{"sentry": {"id": ..., "shortId": ...}}``).
    ``summary`` names the delivery in log lines (e.g. ``action=created, substatus=new, issue=X-1``).
    ``parsed``: the plugin's own reading of the payload (a model, a dataclass), made once in
    ``accept_webhook``; later hooks of the same delivery get it back as ``delivery.parsed`` and
    need not parse the payload again. Never stored.
    """

    kind: Literal["create", "update", "skip", "reject", "split"]
    reason: str = ""
    external_id: str | None = None
    response: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    parsed: Any = field(default=None, compare=False, repr=False)
    parts: tuple["Decision", ...] = ()

    @classmethod
    def skip(cls, reason: str, **kw: Any) -> "Decision":
        """A delivery that is answered 200 and otherwise ignored."""
        return cls("skip", reason=reason, **kw)

    @classmethod
    def split(cls, parts: "list[Decision] | tuple[Decision, ...]", **kw: Any) -> "Decision":
        """A delivery of several records: each part handled as a delivery of its own."""
        return cls("split", parts=tuple(parts), **kw)

    @classmethod
    def reject(cls, reason: str, **kw: Any) -> "Decision":
        """A malformed delivery: answered 400 with ``reason``."""
        return cls("reject", reason=reason, **kw)


@dataclass(frozen=True)
class LabelDraft:
    """A label to attach; created once by name and shared between issues."""

    name: str
    color: str = "#888888"


@dataclass(frozen=True)
class ExternalLinkDraft:
    """The ``chipp_external_issue`` row tying an issue to the source's own record."""

    external_id: str
    external_url: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class IssueDraft:
    """An issue a source plugin wants created. ``link.external_id`` is the dedupe key."""

    title: str
    description: str
    link: ExternalLinkDraft
    priority: str = "P3"
    labels: tuple[LabelDraft, ...] = ()
    assignee: str | None = None
    log_name: str = ""


@dataclass(frozen=True)
class Change:
    """One change ``external_update`` asks the host to apply to a linked issue.

    kind: ``close`` | ``reopen`` | ``comment`` (``text``) | ``assign`` (``value``, None unassigns)
    | ``label`` (``value`` = label name, ``color``) | ``priority`` (``value``). Sinks are also
    handed ``description`` (the worker rewrote the description: enrichment); it is not a change
    ``external_update`` may ask for.
    ``key`` makes a change idempotent: a change whose key was already applied to the issue is
    not applied again (identical repeats of one delivery add one comment, not two).
    ``actor``: who made the change, when not the delivery's source (``github:octocat``); it
    authors the comment and the timeline entry, and decides which sinks it is published to.
    ``at`` (close and reopen): when the source says the state changed, an aware datetime. The
    host orders states by it per link: a close or reopen older than the last one applied
    through the same link is ignored, and so are the other changes of that delivery (it
    arrived late, or was replayed). A reopen that changes no status still records its time.
    """

    kind: Literal["close", "reopen", "comment", "assign", "label", "priority", "description"]
    text: str = ""
    value: str | None = None
    color: str = "#888888"
    key: str | None = None
    actor: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Section:
    """A Markdown section an enricher contributes to an issue's description.

    ``key`` identifies it: writing a section with the same key again replaces the old one.
    An empty ``markdown`` removes the section; ``note`` says why (kept on the job record).
    """

    key: str
    markdown: str
    note: str = ""


@dataclass(frozen=True)
class LinkView:
    """A read-only view of an external link, as hooks receive it."""

    source: str
    external_id: str
    external_url: str | None
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class IssueView:
    """A read-only view of an issue, as hooks receive it."""

    id: str
    identifier: str
    title: str
    description: str
    priority: str
    status: str
    assignee: str | None
    created_at: datetime
    closed_at: datetime | None = None
    #: The source whose delivery made the issue.
    source: str | None = None


class Unavailable(Exception):
    """Raised by a job hook when an outside service it needs is down (connection refused, timeout,
    a 5xx answer): the worker backs off and tries again, and the attempt does not count, so an
    outage never uses up a job's attempts. (Connection errors, timeouts and database errors
    raised by httpx, asyncio or SQLAlchemy count as outages without being wrapped in this.)
    """


class GiveUp(Exception):
    """Raised by a job hook when trying again cannot help (the outside record is gone, the
    request is refused as invalid): the job is marked ``failed`` at once with this message."""


class RetryLater(Exception):
    """Raised by a job hook to be retried later (e.g. an API rate limit).

    Give ``after_seconds`` (wait this long) or ``until`` (an aware datetime: wait until then).
    Unlike other exceptions it replaces the exponential backoff schedule; it still counts as
    an attempt.
    """

    def __init__(
        self, reason: str, *, after_seconds: float | None = None, until: datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = after_seconds
        self.until = until
