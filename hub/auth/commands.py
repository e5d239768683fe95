"""``hub token create|list|revoke`` and ``hub user add|remove``: the command-line side of access.

``token create`` prints the token as the last (and only) line of standard output, so
``TOKEN=$(hub token create ci --scope read)`` works; everything else goes to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Awaitable, Callable

from hub import db
from hub.auth.accounts import add_user, remove_user
from hub.auth.passwords import PasswordError, read_password
from hub.auth.scopes import SCOPES
from hub.auth.tokens import TokenError, create_token, list_tokens, revoke_token
from hub.bootstrap import load
from hub.config import ConfigError
from hub.models import as_utc

__all__ = ["add_access_commands"]


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from hub.cli import _upgrade  # the CLI's one-line database errors; imported late (cli imports this)

    settings, _pm = load(args.config)
    _upgrade(settings)

    async def main() -> Any:
        engine = db.create_engine(settings.database)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (TokenError, PasswordError) as exc:
        raise ConfigError(str(exc)) from None


def cmd_token_create(args: argparse.Namespace) -> None:
    """Create a token and print it (once)."""
    secret = _run(args, lambda engine: create_token(engine, args.name, args.scope))
    print(f"created token {args.name!r} with scope {args.scope}; it is shown only now:", file=sys.stderr)
    print(secret)


def cmd_token_list(args: argparse.Namespace) -> None:
    """Print every token: name, scope, created, last used."""
    rows = _run(args, list_tokens)
    if not rows:
        print("no tokens", file=sys.stderr)
        return
    print(f"{'NAME':<24} {'SCOPE':<6} {'CREATED':<20} LAST USED")
    for row in rows:
        last = as_utc(row["last_used_at"]).strftime("%Y-%m-%d %H:%M:%S") if row["last_used_at"] else "never"
        print(f"{row['name']:<24} {row['scope']:<6} {as_utc(row['created_at']).strftime('%Y-%m-%d %H:%M:%S'):<20} {last}")


def cmd_token_revoke(args: argparse.Namespace) -> None:
    """Delete a token; it stops working at once, in every process."""
    if not _run(args, lambda engine: revoke_token(engine, args.name)):
        raise ConfigError(f"no token named {args.name!r}")
    print(f"revoked token {args.name!r}", file=sys.stderr)


def cmd_user_add(args: argparse.Namespace) -> None:
    """Create an account; the password comes from the terminal or the first line of standard input."""
    try:
        password = read_password()
    except PasswordError as exc:
        raise ConfigError(str(exc)) from None
    _run(args, lambda engine: add_user(engine, args.name, password, args.scope))
    print(f"created account {args.name!r} with scope {args.scope}", file=sys.stderr)


def cmd_user_remove(args: argparse.Namespace) -> None:
    """Delete an account and its sessions."""
    if not _run(args, lambda engine: remove_user(engine, args.name)):
        raise ConfigError(f"no account named {args.name!r}")
    print(f"removed account {args.name!r}", file=sys.stderr)


def add_access_commands(commands: Any, config_help: str) -> None:
    """Add ``token`` and ``user`` to the ``hub`` command's subparsers."""
    token = commands.add_parser("token", help="API tokens: create, list, revoke")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_commands.add_parser("create", help="create a token and print it (shown once)")
    create.add_argument("name", help="a name for the token (who or what uses it)")
    create.add_argument("--scope", required=True, choices=SCOPES, help="read, write (triage) or admin")
    create.set_defaults(func=cmd_token_create)
    listing = token_commands.add_parser("list", help="name, scope, created, last used")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="delete a token (effective at once)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_token_revoke)

    user = commands.add_parser("user", help="accounts of people who sign in")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser("add", help="create an account (password from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--scope", default="write", choices=SCOPES, help="default: write")
    add.set_defaults(func=cmd_user_add)
    remove = user_commands.add_parser("remove", help="delete an account and its sessions")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_user_remove)
    for parser in (create, listing, revoke, add, remove):
        parser.add_argument("--config", help=config_help)
