"""``hub sentry backfill --since 24h [--project SLUG]`` and the periodic reconcile.

Both run ``hub_sentry.backfill.reconcile``: the command once, after an outage, with a progress
bar on a terminal and a summary line; the worker every ``[sentry] reconcile_interval_minutes``,
one hub process at a time (the host's lease, ``register_periodic``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any, TextIO

from hub import Command, CommandError, Periodic, Pipeline, Settings

from hub_sentry.api import SentryError
from hub_sentry.backfill import Tally, reconcile
from hub_sentry.settings import SentrySettings

__all__ = ["BACKFILL", "backfill", "periodic_reconcile"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    from hub import parse_age  # hub.sync reaches the store's tables: loaded only for the command

    parser.add_argument("--since", type=parse_age, default=timedelta(hours=24),
                        help="issues Sentry saw within this age (lastSeen): 30m, 12h, 7d, 2w (default: 24h)")
    parser.add_argument("--project", metavar="SLUG", help="only this Sentry project")


def _usable(settings: SentrySettings) -> None:
    if not settings.api_ready:
        raise CommandError("the backfill asks Sentry's API: set SENTRY_AUTH_TOKEN (the internal integration's "
                           "token) and SENTRY_ORG (or [sentry] organization)")


def _bar(out: TextIO):
    from hub import progress_bar

    def draw(tally: Tally) -> None:
        out.write(f"\r{progress_bar(tally.seen, tally.listed)}  {tally.created} created")
        out.flush()

    return draw


async def backfill(args: argparse.Namespace, settings: Settings, pm: Any, *, out: TextIO | None = None,
                   http_transport: Any = None) -> int:
    """Run the backfill once; the summary on standard error, exit status 0 (1 when Sentry refused)."""
    out = out or sys.stderr
    _usable(settings.plugin("sentry"))
    terminal = out.isatty()
    async with Pipeline.open(settings, pm, http_transport=http_transport) as pipeline:
        try:
            tally = await reconcile(pipeline, args.since, args.project, progress=_bar(out) if terminal else None)
        except SentryError as exc:
            if terminal:
                out.write("\n")
            raise CommandError(f"sentry backfill: {exc}") from None
    if terminal:
        out.write("\n")
    print(f"sentry backfill: {tally.summary()}", file=out)
    if tally.created:
        print("sentry backfill: the new issues' enrichment is queued for the hub's worker", file=out)
    return 0


BACKFILL = Command(group="sentry", name="backfill", help="bring in the Sentry issues the hub missed (after an outage)",
                   run=backfill, arguments=_arguments, group_help="Sentry: backfill after an outage")


def periodic_reconcile(config: Settings) -> list[Periodic]:
    """The reconcile every ``[sentry] reconcile_interval_minutes`` (none when 0 or without a token)."""
    settings: SentrySettings = config.plugin("sentry")
    if not settings.reconcile_interval_minutes or not settings.api_ready:
        return []
    window = timedelta(hours=settings.reconcile_window_hours)

    async def run(pipeline: Pipeline) -> str:
        tally = await reconcile(pipeline, window)
        return tally.summary()

    return [Periodic(name="sentry.reconcile", interval_seconds=settings.reconcile_interval_minutes * 60, run=run)]
