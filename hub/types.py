"""The values plugins and host hand each other.

Plain frozen dataclasses: a plugin builds them without touching Litestar, SQLAlchemy or pluggy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Mapping

if TYPE_CHECKING:  # only an annotation here: the ``hub`` command's start-up imports no pydantic
    import argparse

    from pydantic import BaseModel

__all__ = [
    "Change",
    "Command",
    "CommandError",
    "ConfigSection",
    "Decision",
    "Endpoint",
    "EndpointError",
    "EndpointRequest",
    "EndpointResponse",
    "ExternalLinkDraft",
    "GiveUp",
    "IssueDraft",
    "IssueView",
    "LabelDraft",
    "LinkView",
    "Periodic",
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
    #: ``(namespace, key, value)`` entries the host writes to the shared cache once the delivery
    #: is handled (best effort, after its answer is settled): what a source learns from its
    #: deliveries that its worker-side hooks need later (Sentry's installation uuid).
    remember: tuple[tuple[str, str, Any], ...] = field(default=(), compare=False, repr=False)

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
    #: False: queue no ``enrich`` job for the new issue (the enrichers are not asked about it).
    enrich: bool = True


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
    an attempt. The worker waits up to a tenth of the wait (at least a second) longer, never
    less, so that jobs one rate limit stopped together do not all come back in one instant.
    """

    def __init__(
        self, reason: str, *, after_seconds: float | None = None, until: datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = after_seconds
        self.until = until


@dataclass(frozen=True)
class Command:
    """``hub <group> <name>``: a sub-command a plugin adds to the ``hub`` command (``register_commands``).

    The host adds ``--config``, then loads the config and the plugins, sets up logging and brings
    the database to the latest schema (unless ``database`` is False) before it calls ``run(args=..., settings=..., pm=...)``
    (each by keyword, only those it takes). ``run`` returns the exit status (None is 0) or an
    awaitable of it, which the host runs in a fresh event loop.
    """

    #: The first word after ``hub`` (``"sentry"``); several commands share a group.
    group: str
    #: The second word (``"backfill"``).
    name: str
    #: One line for ``hub <group> --help``.
    help: str
    run: Callable[..., "int | None | Awaitable[int | None]"]
    #: Adds the command's own options and arguments to its parser.
    arguments: "Callable[[argparse.ArgumentParser], None] | None" = None
    #: One line for the group in ``hub plugins`` and ``hub <group> --help`` (the first non-empty wins).
    group_help: str = ""
    #: False for a command that never opens the database (one that prints something): the host
    #: then neither migrates nor creates one.
    database: bool = True


class CommandError(Exception):
    """Raised by a command to end with ``hub: <message>`` on standard error and exit status 1."""


@dataclass(frozen=True)
class EndpointRequest:
    """A request to a plugin's endpoint (``register_endpoints``), framework-neutral.

    ``headers`` have lower-case names; ``query`` holds the first value of each query parameter;
    ``body`` is the raw bytes (verify signatures over them). ``path`` is the request's path.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, by the webhook's rules (no NaN, bounded nesting); EndpointError 400 if not."""
        from hub.ingest import parse_payload  # the one JSON reader of network input

        try:
            return parse_payload(self.body)
        except ValueError as error:
            raise EndpointError(400, str(error)) from None


@dataclass(frozen=True)
class EndpointResponse:
    """What a plugin's endpoint answers: ``body`` as JSON with ``status``, or a redirect.

    Build them with ``EndpointResponse.json(...)``, ``.redirect(url)`` or ``.error(status, message)``.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: An absolute http(s) URL to redirect to (``status`` 302 or 303); ``body`` is then ignored.
    location: str | None = None

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> "EndpointResponse":
        """A JSON answer."""
        return cls(status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> "EndpointResponse":
        """A redirect to ``url`` (absolute, http or https)."""
        return cls(status=status, location=url)

    @classmethod
    def error(cls, status: int, message: str) -> "EndpointResponse":
        """A refusal: ``{"message": message}`` with a 4xx ``status``."""
        return cls(status=status, body={"message": message})


class EndpointError(Exception):
    """Raised by an endpoint's handler (or the host calls it makes) to answer ``status`` with
    ``{"message": message}``: a 4xx for what the caller got wrong, with a message fit to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    """An HTTP endpoint a plugin serves (``register_endpoints``), at ``/api/<namespace>/<path>``.

    ``handler(request, context)`` gets an EndpointRequest and the host's ``EndpointContext``
    (settings, HTTP client, cache, issue search, create and link through the webhook's store) and
    returns an EndpointResponse, or an awaitable of one; it may raise EndpointError.
    ``namespace`` is the plugin's source name (or its own name); ``path`` is relative, without a
    leading slash, and may not be ``webhook``.
    ``scope``: ``"public"`` when the endpoint checks its caller itself (a signature over the body)
    or only redirects to configured places, so the hub's token and login check and its CSRF check
    are skipped; else ``"read"``, ``"write"`` or ``"admin"``, checked like the hub's own API.
    ``timeout_seconds``: past it the caller gets 503 (the handler is cancelled). Bodies are
    bounded by ``[hub] max_body_bytes`` (413), as for webhooks.
    """

    namespace: str
    path: str
    handler: Callable[..., Any]
    methods: tuple[str, ...] = ("POST",)
    scope: str = "public"
    summary: str = ""
    timeout_seconds: float = 5.0

    @property
    def url_path(self) -> str:
        """Where the host mounts it."""
        return f"/api/{self.namespace}/{self.path}"


@dataclass(frozen=True)
class Periodic:
    """Work a plugin wants done every ``interval_seconds`` by one hub process at a time
    (``register_periodic``), such as reconciling with a source's API.

    ``run(pipeline)`` gets a :class:`hub.pipeline.Pipeline` on the running hub (push deliveries,
    find linked issues, ``settings``, ``http``, ``cache``) and returns a one-line note for the log
    (or None). The worker of whichever process first finds it due runs it, holding a lease in the
    database for ``interval_seconds``; a run is cancelled when it outlasts the interval.
    """

    name: str
    interval_seconds: float
    run: Callable[..., Awaitable[str | None]]
