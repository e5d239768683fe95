"""The hooks a hub plugin may implement.

Every hook is called with keyword arguments; an implementation takes only the ones it uses.
Arguments that recur:

- ``source``: the webhook source name (``"sentry"``), i.e. the ``<source>`` in ``/api/<source>/webhook``.
- ``config``: the :class:`hub.config.Settings`; ``config.plugin("sentry")`` is a plugin's own section.
- ``headers``: the request headers, lower-cased names.
- ``payload``: the parsed JSON body.
- ``delivery``: the :class:`hub.delivery.ReceivedDelivery` being handled (hooks after
  ``accept_webhook``): its ``headers``, ``payload``, ``decision``, and ``parsed``, what
  ``accept_webhook`` read the payload as (``Decision.parsed``), so no hook parses it twice.
- ``http``: the process-wide ``httpx.AsyncClient`` (timeouts and limits set by the host).
- ``cache``: a :class:`hub.cache.Cache`, a key-value store in the database shared by every process.

A delivery calls each hook at most once, in this order: ``verify_webhook`` (skipped for
``hub replay``), ``accept_webhook`` (after the body parsed as JSON), then by the decision: for
``create``, ``build_issue`` unless the record is linked already, and ``external_update`` when it
is (found before, or linked by a concurrent delivery a moment ago); for ``update``,
``external_update`` when the record is linked. Nothing is written before the last hook of the
delivery has returned; then one transaction writes what it decided. A ``split`` decision makes
each of its parts a delivery of its own for the hooks after ``accept_webhook`` (once per part). The job hooks
(``stack_files``, ``first_seen``, ``enrich_description``, and ``publish_issue`` for sinks) run
later in the worker, once per job attempt.

firstresult hooks are synchronous (an ``async def`` would return a coroutine, which is never None
and so would always win). Collected hooks may be ``async def``; the host awaits what they return.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("hub")


@hookspec
def register_config():
    """Return a ConfigSection (or a list of them) describing the plugin's config.toml sections.

    None: the plugin has no configuration.
    """


@hookspec
def register_sources():
    """Return a list of Source: the webhook sources this plugin serves.

    Each gets ``POST`` and ``GET /api/<name>/webhook``. None or []: the plugin serves no webhook.
    """


@hookspec
def exposure_problems(config):
    """Return a list of reasons the plugin's settings are unsafe where other machines can connect.

    ``hub serve`` refuses to listen on a non-loopback address while any reason is returned
    (e.g. a webhook that checks no signature). None or []: safe to expose.
    """


@hookspec
def check_config(config):
    """Check the plugin's settings at start-up; return a list of fatal problems (strings).

    The hub refuses to start while any problem is returned. Log warnings yourself.
    None or []: nothing wrong.
    """


@hookspec(firstresult=True)
def verify_webhook(source, headers, body, config):
    """Check the webhook's authenticity over the raw ``body`` bytes; return a Verdict.

    ``Verdict(ok=False, reason=...)`` answers 401. None: not my source (when no plugin answers,
    the delivery is not authenticated at all).
    """


@hookspec(firstresult=True)
def accept_webhook(source, headers, payload, config):
    """Decide what a verified delivery means; return a Decision (create, update, skip, reject, or
    split into parts, each then handled as a delivery of its own).

    None: not my source (when no plugin answers, the delivery is skipped with a reason).
    """


@hookspec(firstresult=True)
def build_issue(source, payload, config, delivery):
    """Return an IssueDraft for a delivery accepted with ``Decision.kind == "create"``.

    ``delivery.parsed`` is what ``accept_webhook`` put in ``Decision.parsed``.

    None: not my source (when no plugin answers, the delivery is skipped with a reason).
    """


@hookspec(firstresult=True)
def external_update(source, payload, issue, link, config, delivery):
    """Return a list of Change to apply to ``issue`` (an IssueView), already linked by ``link``.

    Called once per delivery: for ``update`` decisions whose record is linked, and for ``create``
    decisions whose record is linked already (the delivery is a duplicate). ``issue`` is the
    issue as read just before; the changes are applied, each only if it still changes
    something (closing a closed issue does nothing), in one transaction with the delivery's log
    row. ``delivery.parsed`` is what ``accept_webhook`` put in ``Decision.parsed``.
    None or []: nothing to change.
    """


@hookspec
def stack_files(issue, link, payload, config, http):
    """Return the source-code file paths of the issue's stack trace, most relevant first.

    ``payload`` is the delivery that created the issue (None when unknown). May be async.
    None or []: this plugin knows no stack for the link (e.g. not its source). Runs in the
    enrichment job: ``RetryLater`` / ``Unavailable`` retry the job as from ``enrich_description``.
    """


@hookspec(firstresult=True)
def first_seen(issue, link, payload, config):
    """Return when the problem behind ``link`` first appeared (an aware datetime).

    Enrichers look for causes in the window before it. None: not my source (the host then
    uses the issue's creation time).
    """


@hookspec(firstresult=True)
def code_project(link, payload, config):
    """Return the name of the project (service, application) the record behind ``link`` belongs to.

    The cross-plugin contract for enrichers, beside ``stack_files`` and ``first_seen``: they get
    it as ``project`` and map it to a code repository (``[github.projects]``), whatever source
    made the issue. ``payload`` is the delivery that created the issue (None when unknown).
    None: not my source, or no project known (enrichers then use their default repository).
    """


@hookspec
def code_link(project, path, line, commit, config, http, cache):
    """Return the web URL of source file ``path`` (as a stack trace names it) at ``line`` (or None)
    in the code repository of ``project`` (what ``code_project`` names), at ``commit`` when given,
    else on the repository's default branch.

    The counterpart of ``code_project`` for links into code (Sentry's stack-trace link): the
    code host's plugin maps the project to its repository and strips what builds put in front
    of the path. May be async; the first URL returned wins. None: no repository known.
    """


@hookspec
def register_endpoints(config):
    """Return a list of Endpoint: HTTP endpoints this plugin serves at ``/api/<namespace>/<path>``
    (forms and lookups another system calls, such as Sentry's UI components).

    The host mounts each one, bounds its body and time, answers an EndpointError with its status
    and ``{"message": ...}``, any other exception with 500 and nothing of it. ``config`` is None
    when the route table is listed without settings: return every endpoint you can serve.
    None or []: no endpoints.
    """


@hookspec
def enrich_description(issue, link, stack_files, first_seen, project, config, http, cache):
    """Return a Section to put in the issue's description (replacing one with the same key).

    ``project`` is what ``code_project`` returned (None when no plugin knows one).

    Runs in the outbox worker, after the webhook was answered. May be async. Raise
    :class:`hub.types.RetryLater` to be retried at a given time, any other exception to be
    retried with backoff. None: nothing to add (say why in a log line).
    """


@hookspec
def register_sinks(config):
    """Return a list of Sink: the outside trackers this plugin publishes issues to.

    The host then queues a ``publish`` job per sink for every new issue and every committed
    change (``publish_issue`` runs it): return a sink only while it is enabled in ``config``.
    ``config`` is None when the ``hub`` command lists its sub-commands: return every sink you
    can serve. None or []: the plugin publishes nowhere.
    """


@hookspec
def check_sink(sink, config, http, cache):
    """Check a sink against its tracker once, when the worker starts (token scopes, the repository).

    Return a list of problems (strings), each logged as one error line; the hub keeps running
    and the jobs fail with the same reason until it is fixed. May be async. None or []: not
    my sink, or nothing wrong.
    """


@hookspec
def publish_issue(sink, issue, link, links, changes, labels, project, config, http, cache):
    """Publish ``issue`` and ``changes`` (a list of Change, each with its ``actor``) to ``sink``.

    Runs in the outbox worker after the change committed, once per job attempt; jobs of one
    issue and sink run one at a time, in the order they were queued. ``links`` are all the
    issue's links (the source's, with its metadata), ``labels`` its label names, ``project``
    what ``code_project`` says of its links (None when no plugin knows). ``link`` is its
    link to the outside record (a LinkView), None while there is none: then create the record
    (looking first for one an earlier, timed-out attempt made) and return its ExternalLinkDraft,
    which the host stores as the link. May be async. Raise RetryLater, Unavailable or GiveUp as the
    job hooks do. None: not my sink, or no new outside record.
    """


@hookspec
def register_commands():
    """Return a list of Command: the ``hub <group> <name>`` commands this plugin adds.

    Listed by ``hub plugins``; the host loads the plugins for a command only when no built-in
    command matches the first word, then adds ``--config``, loads the config, sets up logging and
    migrates the database before it calls the command's ``run``. None or []: no commands.
    """


@hookspec
def register_periodic(config):
    """Return a list of Periodic: work to run every ``interval_seconds`` in the worker (reconciling
    with a source's API, say), by one hub process at a time however many run.

    Return a Periodic only while it is enabled in ``config``. The first worker that finds it due
    takes a lease in the database for the interval and runs it; a run that raises is logged and
    tried again at the next interval. None or []: nothing to run.
    """
