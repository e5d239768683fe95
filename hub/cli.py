"""``hub``: serve | db upgrade | plugins | replay | jobs | token | user, and the plugins' commands.

Operator mistakes end in one clear line, not a traceback. Start-up: this module imports only the
standard library; each command imports what it needs when it runs (the web stack only to serve),
and plugins are loaded only for a command no built-in one matches, so ``hub --help`` and the
built-in commands start as fast as Python itself allows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from hub.limits import TransportLimits

# asyncio, socket, json, pathlib, even typing are imported where used: ``hub --help`` needs none.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, Sequence

    from hub.config import Settings
    from hub.types import Command

__all__ = ["main"]


class CliError(Exception):
    """A failure to report as ``hub: <message>`` with exit status 1."""


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _upgrade(settings: Settings) -> None:
    import sqlalchemy as sa

    from hub import db

    url = settings.database.url
    try:
        db.upgrade_sync(url)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot reach the database {_safe_url(url)}: {reason}") from None
    except sa.exc.ArgumentError as exc:
        raise CliError(f"invalid database URL {_safe_url(url)}: {exc}") from None
    except db.DatabaseUrlError as exc:
        raise CliError(f"invalid database URL {_safe_url(url)}: {exc}") from None


def _check_port(host: str, port: int) -> None:
    import errno
    import socket
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on {host} is already in use (another hub running? try --port)") from None
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> None:
    """Check config, database and port, then run the server."""
    import signal
    import pathlib
    import uvicorn

    from hub import transport
    from hub.auth.exposure import check_exposure
    from hub.bootstrap import load
    from hub.config import listen_url
    from hub.logs import setup_logging
    from hub.runtime import check_plugins

    settings, pm = load(args.config)
    setup_logging(settings.hub.log_level, settings.secrets, settings.hub.log_format)
    check_plugins(settings, pm)
    _upgrade(settings)
    host = args.host or settings.hub.host
    port = args.port or settings.hub.port
    check_exposure(settings, pm, host)
    _check_port(host, port)
    # Where people reach this server, for the first-run login link the app logs (hub.app.first_run_url).
    os.environ["HUB_LISTEN_URL"] = listen_url(host, port)
    if settings.path is not None:
        # Workers (and reloads) build the app from the environment: hand them the same file.
        os.environ["HUB_CONFIG"] = str(pathlib.Path(settings.path).resolve()) if settings.path.exists() else ""
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to whatever handler was
    # there before it. Make that a clean exit (status 0), which is what a finished graceful
    # shutdown is; a SIGTERM before uvicorn takes over exits cleanly too.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    limits = _transport_limits(args)
    with _metrics_directory(args.workers):
        uvicorn.run("hub.asgi:app_from_env", factory=True, host=host, port=port, workers=args.workers,
                    log_config=None, timeout_graceful_shutdown=args.graceful_timeout,
                    http=transport.PROTOCOL, timeout_keep_alive=limits.keep_alive_timeout)


@contextlib.contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory where they share their metrics (prometheus-client's
    multiprocess mode), removed at exit; an operator's own PROMETHEUS_MULTIPROC_DIR is kept."""
    import tempfile
    from hub.metrics import MULTIPROC_ENV

    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="hub-metrics-") as directory:
        os.environ[MULTIPROC_ENV] = directory
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)


def _transport_limits(args: argparse.Namespace) -> TransportLimits:
    """The flags' transport limits, fitted to the open-file limit, handed to the server's processes."""
    from hub.limits import ENV, fit_fd_limit

    for flag in ("max_connections", "max_header_bytes", "max_headers", "header_timeout", "body_timeout",
                 "keep_alive_timeout"):
        if not getattr(args, flag) > 0:
            raise CliError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    limits = fit_fd_limit(TransportLimits(
        max_header_bytes=args.max_header_bytes, max_headers=args.max_headers, header_timeout=args.header_timeout,
        body_timeout=args.body_timeout, keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections))
    # uvicorn's workers build the protocol from an import string: the environment carries the limits.
    os.environ[ENV] = limits.to_env()
    return limits


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    """Apply migrations to the configured database."""
    from hub.bootstrap import load

    settings, _pm = load(args.config)
    _upgrade(settings)
    print(f"database {_safe_url(settings.database.url)} is at the latest schema")


def cmd_plugins(args: argparse.Namespace) -> None:
    """List loaded plugins, their versions and hooks, and the commands they add."""
    from hub.bootstrap import load
    from hub.plugins import plugin_infos

    _settings, pm = load(args.config)
    infos = plugin_infos(pm)
    if not infos:
        print("no plugins loaded")
    for info in infos:
        print(f"{info.name}  {info.distribution} {info.version}")
        print(f"    hooks: {', '.join(info.hooks) or '(none)'}")
    commands = plugin_commands(pm)
    if commands:
        print("commands:")
    for command in commands:
        print(f"    hub {command.group} {command.name}  {command.help}")


async def _replay(settings: Settings, pm, source_name: str, body: bytes, headers: dict[str, str], run_jobs: bool,
                  dry: bool = False) -> int:
    import json

    from hub.pipeline import Pipeline
    from hub.runtime import Hub

    async with Hub.running(settings, pm, start_worker=False) as hub:
        source = hub.sources.get(source_name)
        if source is None:
            raise CliError(f"no plugin serves the source {source_name!r} (have: {', '.join(hub.sources) or 'none'})")
        headers.setdefault("content-type", "application/json")
        if dry:
            from hub.dryrun import dry_run

            # What the current config and plugins would do, with nothing written.
            result = await dry_run(hub, source, headers, body)
            print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
            return 1 if result["outcome"] == "rejected" else 0
        # The path every delivery without HTTP takes (a plugin's backfill too): hub.pipeline.
        pipeline = Pipeline(hub)
        answer = await pipeline.deliver(source_name, headers, body)
        print(json.dumps({"status": answer.status, "body": answer.body}, indent=2, ensure_ascii=False))
        if run_jobs and answer.status == 200:
            ran = await pipeline.run_jobs()
            print(f"ran {ran} job(s)", file=sys.stderr)
        return 0 if answer.status == 200 else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Push a saved payload through the same pipeline as a webhook, without HTTP."""
    import asyncio
    import pathlib
    from hub.bootstrap import load
    from hub.logs import setup_logging

    settings, pm = load(args.config)
    setup_logging(settings.hub.log_level, settings.secrets, settings.hub.log_format)
    try:
        body = pathlib.Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    headers = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise CliError(f"--header takes 'Name: value', got {header!r}")
        headers[name.strip().lower()] = value.strip()
    _upgrade(settings)
    return asyncio.run(_replay(settings, pm, args.source, body, headers, not args.no_jobs, args.dry_run))


async def _jobs(settings: Settings, action) -> Any:
    import sqlalchemy as sa

    from hub import db

    engine = db.create_engine(settings.database)
    try:
        return await action(engine)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split()) or type(exc).__name__
        raise CliError(f"cannot reach the database {_safe_url(settings.database.url)}: {reason}") from None
    finally:
        await engine.dispose()


def cmd_jobs_list(args: argparse.Namespace) -> None:
    """Print the newest jobs, one line each: id, status, attempts, kind, issue, when, last error."""
    import asyncio
    from hub.bootstrap import load
    from hub.jobs import list_jobs

    settings, _pm = load(args.config)
    _upgrade(settings)
    rows = asyncio.run(_jobs(settings, lambda engine: list_jobs(engine, args.status, args.limit)))
    if not rows:
        print(f"no {args.status + ' ' if args.status else ''}jobs")
    for row in rows:
        when = row["updated_at"].isoformat(timespec="seconds") if row["updated_at"] else "-"
        detail = row["last_error"] or row["note"] or ""
        print(f"{row['id']}  {row['status']:<7} attempts={row['attempts']}  {row['kind']}  issue={row['issue_id']}  "
              f"{when}  {' '.join(detail.split())[:200]}")


def cmd_jobs_retry(args: argparse.Namespace) -> None:
    """Queue failed jobs (``--failed``) or the named ones again, with fresh attempts."""
    import asyncio
    from hub.bootstrap import load
    from hub.jobs import retry_jobs

    if not args.failed and not args.ids:
        raise CliError("say which jobs: --failed, or one or more job ids")
    settings, _pm = load(args.config)
    _upgrade(settings)
    count = asyncio.run(_jobs(settings, lambda engine: retry_jobs(engine, args.ids, failed=args.failed)))
    print(f"queued {count} job(s) again; a running hub picks them up at its next poll")


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    config_option(serve)
    serve.add_argument("--host", help="address to listen on (default: [hub] host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [hub] port, 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    serve.add_argument("--graceful-timeout", type=float, default=10.0,
                       help="seconds to finish in-flight requests on SIGTERM (default: 10)")
    limits = TransportLimits()
    serve.add_argument("--max-connections", type=int, default=limits.max_connections,
                       help=f"open connections per process; more are answered 503 (default: {limits.max_connections})")
    serve.add_argument("--header-timeout", type=float, default=limits.header_timeout,
                       help=f"seconds to send a request's headers, idle new connections included "
                            f"(default: {limits.header_timeout:g})")
    serve.add_argument("--body-timeout", type=float, default=limits.body_timeout,
                       help=f"seconds to send a request's body (default: {limits.body_timeout:g})")
    serve.add_argument("--keep-alive-timeout", type=float, default=limits.keep_alive_timeout,
                       help=f"seconds an idle keep-alive connection is kept (default: {limits.keep_alive_timeout:g})")
    serve.add_argument("--max-header-bytes", type=int, default=limits.max_header_bytes,
                       help=f"request line and headers of one request; larger is 431 (default: {limits.max_header_bytes})")
    serve.add_argument("--max-headers", type=int, default=limits.max_headers,
                       help=f"header fields of one request; more is 431 (default: {limits.max_headers})")
    serve.set_defaults(func=cmd_serve)


def _db_arguments(database: argparse.ArgumentParser) -> None:
    db_commands = database.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations to the configured database")
    config_option(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)


def _plugins_arguments(plugins: argparse.ArgumentParser) -> None:
    config_option(plugins)
    plugins.set_defaults(func=cmd_plugins)


def _replay_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("file", help="the saved JSON body")
    replay.add_argument("--source", required=True, help="the source it came from (e.g. sentry)")
    replay.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="a header of the original delivery (repeatable), e.g. 'Sentry-Hook-Resource: issue'")
    config_option(replay)
    replay.add_argument("--no-jobs", action="store_true", help="do not run the enrichment jobs it enqueues")
    replay.add_argument("--dry-run", action="store_true",
                        help="say what it would do (created, deduplicated, skipped and why, the issue text); write nothing")
    replay.set_defaults(func=cmd_replay)


def _jobs_arguments(jobs: argparse.ArgumentParser) -> None:
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    listing = jobs_commands.add_parser("list", help="the newest jobs, one line each")
    listing.add_argument("--status", choices=["queued", "running", "done", "failed"], help="only jobs in this state")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    config_option(listing)
    listing.set_defaults(func=cmd_jobs_list)
    retry = jobs_commands.add_parser("retry", help="queue jobs again with fresh attempts")
    retry.add_argument("ids", nargs="*", metavar="ID", help="jobs to queue again (any not running)")
    retry.add_argument("--failed", action="store_true", help="every failed job")
    config_option(retry)
    retry.set_defaults(func=cmd_jobs_retry)


#: The built-in commands: name, help line, and what adds their options and sub-commands. Only the
#: command being run gets its options (building every sub-parser is most of ``hub --help``'s time).
BUILTIN_COMMANDS: dict[str, tuple[str, Any]] = {
    "serve": ("run the HTTP server", _serve_arguments),
    "db": ("database maintenance", _db_arguments),
    "plugins": ("list loaded plugins, versions, hooks and commands", _plugins_arguments),
    "replay": ("push a saved payload through the pipeline without HTTP", _replay_arguments),
    "jobs": ("list the outbox's jobs, queue failed ones again", _jobs_arguments),
    "token": ("API tokens: create, list, revoke", "hub.auth.commands:token_arguments"),
    "user": ("accounts of people who sign in", "hub.auth.commands:user_arguments"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``hub`` command: every built-in command, with the options of
    ``only`` (None: of all of them)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="hub", description="Self-hosted integration hub: webhooks become issues.",
        epilog="Installed plugins add commands of their own (hub plugins lists them), e.g. hub sentry --help.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_line, arguments) in BUILTIN_COMMANDS.items():
        command = commands.add_parser(name, help=help_line)
        if only is None or only == name:
            if isinstance(arguments, str):
                module, _, function = arguments.partition(":")
                arguments = getattr(importlib.import_module(module), function)
            arguments(command)
    return parser


CONFIG_HELP = "config file (default: $HUB_CONFIG or ./config.toml)"


def config_option(*parsers: argparse.ArgumentParser) -> None:
    """``--config`` on each of ``parsers`` (every command that reads the configuration has it)."""
    for parser in parsers:
        parser.add_argument("--config", help=CONFIG_HELP)


def plugin_commands(pm: Any) -> list[Command]:
    """The commands of the plugins in ``pm``: ``register_commands``, and ``<command> sync`` of each sink
    that names a command (hub.sync), in a stable order."""
    from hub.plugins import flatten
    from hub.sinks import registered_sinks
    from hub.sync import sink_commands

    commands = [*flatten(pm.hook.register_commands()), *sink_commands(registered_sinks(pm, None))]
    return sorted(commands, key=lambda command: (command.group, command.name))


def add_plugin_commands(commands: Any, found: Sequence[Command], taken: Sequence[str], pm: Any) -> None:
    """Add each plugin command under its group to ``commands`` (a group that a built-in command
    already names is left out); ``pm``, the plugin manager they came from, runs them."""
    groups: dict[str, list[Command]] = {}
    for command in found:
        if command.group not in taken:
            groups.setdefault(command.group, []).append(command)
    for group, members in groups.items():
        group_help = next((command.group_help for command in members if command.group_help), f"{group} commands")
        parser = commands.add_parser(group, help=group_help)
        actions = parser.add_subparsers(dest=f"{group}_command", required=True, metavar="COMMAND")
        for command in members:
            sub = actions.add_parser(command.name, help=command.help, description=command.help)
            if command.arguments is not None:
                command.arguments(sub)
            config_option(sub)
            sub.set_defaults(func=lambda args, command=command: run_plugin_command(args, command, pm))


def run_plugin_command(args: argparse.Namespace, command: Command, pm: Any) -> int:
    """Load the config (with ``pm``, the plugins it enables, built when the command was parsed),
    migrate (for a command that uses the database), then run ``command``."""
    import asyncio
    import inspect

    from hub.bootstrap import load
    from hub.logs import setup_logging

    settings, pm = load(args.config, pm=pm)
    setup_logging(settings.hub.log_level, settings.secrets, settings.hub.log_format)
    if command.database:
        _upgrade(settings)
    offered = {"args": args, "settings": settings, "pm": pm}
    wanted = inspect.signature(command.run).parameters
    takes_all = any(parameter.kind is parameter.VAR_KEYWORD for parameter in wanted.values())
    result = command.run(**{key: value for key, value in offered.items() if takes_all or key in wanted})
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return int(result or 0)


async def _awaited(value: Any) -> Any:
    return await value


def _reported(exc: BaseException) -> bool:
    """An error to print as one ``hub: ...`` line: the CLI's own, a command's, a config's."""
    from hub.types import CommandError

    # Modules not imported raised nothing: their errors are looked for only where they are loaded.
    config, plugins = sys.modules.get("hub.config"), sys.modules.get("hub.plugins")
    return (isinstance(exc, (CliError, CommandError)) or (config is not None and isinstance(exc, config.ConfigError))
            or (plugins is not None and isinstance(exc, plugins.PluginLoadError)))


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: the built-in commands, with the plugins' only when its first word
    names none of them (only then are the plugins loaded)."""
    first = next((word for word in argv if not word.startswith("-")), None)
    parser = build_parser(only=first or "")
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    if first is not None and first not in commands.choices:
        from hub.bootstrap import plugin_manager_for

        # The plugins the config enables, never a disabled one (it may not even import), built
        # once: the command runs with the same manager (run_plugin_command).
        early = argparse.ArgumentParser(add_help=False)
        early.add_argument("--config")
        try:
            config = early.parse_known_args(argv)[0].config
        except SystemExit:  # "--config" without a path: the command's own parser says so
            config = None
        pm, disabled = plugin_manager_for(config)
        add_plugin_commands(commands, plugin_commands(pm), list(commands.choices), pm)
        if first not in commands.choices and disabled:
            raise CliError(f"no command {first!r} here: it may come from a plugin this configuration disables "
                           f"([plugins] disabled: {', '.join(disabled)})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hub`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser_for(argv).parse_args(argv)
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _reported(exc):
            raise
        print(f"hub: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
