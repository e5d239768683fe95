"""``hub token create|list|revoke`` and ``hub user add|remove``: the command-line side of access.

``token create`` prints the token as the last (and only) line of standard output, so
``TOKEN=$(hub token create ci --scope read)`` works; everything else goes to standard error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Awaitable, Callable

from hub.auth.scopes import SCOPES

# The rest (database, accounts, tokens, config) is imported by the command that runs: building
# the ``hub`` command's parser imports nothing heavy.

__all__ = ["token_arguments", "user_arguments"]


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[Any]]) -> Any:
    import asyncio

    from hub import db
    from hub.auth.passwords import PasswordError
    from hub.auth.tokens import TokenError
    from hub.bootstrap import load
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
        raise _error(str(exc)) from None


def cmd_token_create(args: argparse.Namespace) -> None:
    """Create a token and print it (once)."""
    from hub.auth.tokens import create_token

    secret = _run(args, lambda engine: create_token(engine, args.name, args.scope))
    print(f"created token {args.name!r} with scope {args.scope}; it is shown only now:", file=sys.stderr)
    print(secret)


def cmd_token_list(args: argparse.Namespace) -> None:
    """Print every token: name, scope, created, last used."""
    from hub.auth.tokens import list_tokens
    from hub.models import as_utc

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
    from hub.auth.tokens import revoke_token

    if not _run(args, lambda engine: revoke_token(engine, args.name)):
        raise _error(f"no token named {args.name!r}")
    print(f"revoked token {args.name!r}", file=sys.stderr)


def cmd_user_add(args: argparse.Namespace) -> None:
    """Create an account; the password comes from the terminal or the first line of standard input."""
    from hub.auth.accounts import add_user
    from hub.auth.passwords import PasswordError, read_password

    try:
        password = read_password()
    except PasswordError as exc:
        raise _error(str(exc)) from None
    _run(args, lambda engine: add_user(engine, args.name, password, args.scope))
    print(f"created account {args.name!r} with scope {args.scope}", file=sys.stderr)


def cmd_user_remove(args: argparse.Namespace) -> None:
    """Delete an account and its sessions."""
    from hub.auth.accounts import remove_user

    if not _run(args, lambda engine: remove_user(engine, args.name)):
        raise _error(f"no account named {args.name!r}")
    print(f"removed account {args.name!r}", file=sys.stderr)


def token_arguments(token: argparse.ArgumentParser) -> None:
    """``hub token``'s sub-commands: create, list, revoke."""
    from hub.cli import config_option  # imported late: cli imports this module

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
    config_option(create, listing, revoke)


def user_arguments(user: argparse.ArgumentParser) -> None:
    """``hub user``'s sub-commands: add, remove."""
    from hub.cli import config_option  # imported late: cli imports this module

    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_commands.add_parser("add", help="create an account (password from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--scope", default="write", choices=SCOPES, help="default: write")
    add.set_defaults(func=cmd_user_add)
    remove = user_commands.add_parser("remove", help="delete an account and its sessions")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_user_remove)
    config_option(add, remove)


def _error(message: str) -> Exception:
    from hub.types import CommandError

    return CommandError(message)
