"""``hub <sink command> sync [--since 7d]``: publish issues made before a sink was turned on.

Each sink that names a ``command`` (``Sink(command="github-issues")``) gets the group; ``sync``
queues a ``publish`` job for every recent issue the sink has no link for, runs them in this
process with a progress bar on stderr, and leaves what must wait (a rate limit) to the hub's
worker.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import timedelta
from typing import Any, Callable, TextIO

from hub.types import Command, CommandError

__all__ = ["parse_age", "progress_bar", "run_sync", "sink_commands"]

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w`` as a timedelta; argparse's error for anything else."""
    match = _AGE.match(text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive age such as 7d, 12h or 30m, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[#########.....]  12/40`` (a full bar for nothing to do)."""
    filled = width if total == 0 else width * done // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}"


def sink_commands(sinks: Any) -> list[Command]:
    """``hub <command> sync`` for each sink in ``sinks`` that names a command."""
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--since", type=parse_age, default=timedelta(days=7),
                            help="issues made within this age: 30m, 12h, 7d, 2w (default: 7d)")

    return [
        Command(group=sink.command, name="sync", help="publish issues made before publishing was enabled",
                group_help=f"{sink.description}: publish issues", arguments=arguments,
                run=lambda args, settings, pm, name=sink.name: run_sync(settings, pm, name, args.since))
        for sink in sinks if sink.command
    ]


async def run_sync(settings: Any, pm: Any, sink: str, since: timedelta,
                   out: TextIO = sys.stderr, http_transport: Any = None,
                   poll_seconds: float = 0.2) -> int:
    """Queue and run the sync of ``sink``; 0 when every job is done, 1 when some failed or wait."""
    from hub.jobs import Worker
    from hub.runtime import Hub
    from hub.sinks import check_sinks, queue_sync


    async with Hub.running(settings, pm, start_worker=False, migrate=False, http_transport=http_transport) as hub:
        if sink not in {found.name for found in hub.store.sinks}:
            raise CommandError(f"the sink {sink!r} is not enabled in this configuration")
        problems = await check_sinks(hub)
        if problems:
            raise CommandError(f"sink {sink}: " + "; ".join(problems))
        ids = await queue_sync(hub, sink, since)
        print(f"{sink}: {len(ids)} issue(s) of the last {since} to publish", file=out)
        statuses = await _run_with_progress(hub, ids, Worker(hub).run_due, out, poll_seconds)
    failed = sum(1 for status in statuses.values() if status == "failed")
    waiting = sum(1 for status in statuses.values() if status in ("queued", "running"))
    print(f"{sink}: {len(ids) - failed - waiting} published, {failed} failed (hub jobs list --status failed), "
          f"{waiting} waiting for the hub's worker (rate limits)", file=out)
    return 1 if failed or waiting else 0


async def _statuses(hub: Any, ids: list[str]) -> dict[str, str]:
    import sqlalchemy as sa

    from hub.store import JOBS

    if not ids:
        return {}
    async with hub.engine.connect() as connection:
        rows = await connection.execute(sa.select(JOBS.c.id, JOBS.c.status).where(JOBS.c.id.in_(ids)))
        return {row.id: row.status for row in rows}


async def _run_with_progress(hub: Any, ids: list[str], run: Callable[[], Any], out: TextIO,
                             poll_seconds: float) -> dict[str, str]:
    """Run the jobs (``run``: the worker's ``run_due``) while drawing the bar; the final statuses."""
    task = asyncio.ensure_future(run())
    while True:
        done, _ = await asyncio.wait({task}, timeout=poll_seconds)
        statuses = await _statuses(hub, ids)
        finished = sum(1 for status in statuses.values() if status in ("done", "failed"))
        out.write("\r" + progress_bar(finished, len(ids)))
        out.flush()
        if done:
            out.write("\n")
            task.result()
            return statuses
