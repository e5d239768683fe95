"""``python -m bench --burst N``: N new Sentry issues of one deploy at once, and how long until each
is enriched while the fake GitHub answers every request ``--github-delay`` seconds late.

Per database: a hub with its worker on (the shipped ``[worker]`` settings) and a fresh fake GitHub
with a few commits in every window. The N deliveries go as fast as ``--connections`` allow;
their issues' firstSeen is spread over five minutes, as the errors of one deploy appear. Then the
runner waits until every enrichment job is finished (``--burst-timeout``) and reads from the
jobs table, per issue, the time from the delivery's transaction (the job is queued in it) to the
job's end (the section was written in the job, just before): p50, p99 and the slowest.
The fake GitHub counts the calls it answered, the most at once and the most in a minute.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.databases import Postgres, fetch_rows
from bench.load import LoadSpec
from bench.runner import SECRET, Contender, Options, Target, _hub_config, _Run
from bench.servers import fake_github, hub_server

__all__ = ["COMMITS", "FIRST_SEEN_SPREAD_SECONDS", "TARGET_SECONDS", "run_burst", "time_to_enriched"]

#: Commits the fake GitHub lists in every window (each fetched once with a shared cache).
COMMITS = 5
#: The new errors of one deploy first appear over minutes.
FIRST_SEEN_SPREAD_SECONDS = 300
#: Issue 19: a burst of 500 is all enriched within a minute.
TARGET_SECONDS = 60.0
_POLL_SECONDS = 0.25


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _seconds_sql(database: str) -> str:
    if database == "postgresql":
        return "EXTRACT(EPOCH FROM updated_at - created_at)"
    return "(julianday(updated_at) - julianday(created_at)) * 86400.0"


def time_to_enriched(seconds: list[float], expected: int) -> dict[str, Any]:
    """p50, p99 and the slowest of the issues' times (nearest rank); ``all`` None if any is missing."""
    ordered = sorted(seconds)

    def rank(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))], 2)

    return {"enriched": len(ordered), "p50_s": rank(0.50), "p99_s": rank(0.99),
            "all_s": rank(1.0) if len(ordered) >= expected else None}


def _wait_for_jobs(url: str, count: int, timeout: float) -> dict[str, int]:
    """Poll the jobs table until ``count`` enrichment jobs are finished or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    query = ("SELECT status, count(*) FROM hub_job WHERE kind = 'enrich' GROUP BY status")
    while True:
        states = {status: int(number) for status, number in fetch_rows(url, query)}
        finished = states.get("done", 0) + states.get("failed", 0)
        if finished >= count or time.monotonic() > deadline:
            return states
        time.sleep(_POLL_SECONDS)


def _one(options: Options, database: str, workdir: Path, pg: Postgres | None, run_state: _Run) -> dict[str, Any]:
    short = "pg" if database == "postgresql" else "sqlite"
    count = options.burst
    github = fake_github(workdir, options.github_delay, COMMITS, name=f"fake-github-burst-{short}")
    url = pg.create("burst") if pg is not None else f"sqlite+aiosqlite:///{workdir / 'hub-burst.db'}"
    env = {"DATABASE_URL": url, "SENTRY_CLIENT_SECRET": SECRET, "GITHUB_TOKEN": "bench-token",
           "GITHUB_REPO": "bench/bench"}
    github.start()
    try:
        github.wait_ready()
        env["GITHUB_API_URL"] = github.url
        hub = hub_server(f"hub-burst-{short}", "uvicorn", workdir, _hub_config(options.log_level, worker=True), env)
        target = Target(hub.name, "hub", database, "uvicorn", hub, url)
        hub.start()
        try:
            hub.wait_ready()
            spec = LoadSpec(port=hub.port, secret=SECRET, request_ids=f"bench-{run_state.token}-burst-{short}",
                            connections=min(options.connections, count), duration=0, mode="once", id_start=1,
                            count=count, expect="created", first_seen_spread=FIRST_SEEN_SPREAD_SECONDS)
            cpu = hub.cpu_seconds()
            started = time.monotonic()
            posted = run_state.load(Contender("burst", target, "once", "created"), spec)
            posted.pop("latencies_us")
            _say(f"bench: burst on {short}: {posted['statuses']} in {posted['seconds']:.1f} s; waiting for enrichment")
            states = _wait_for_jobs(url, count, options.burst_timeout)
            wall = time.monotonic() - started
            cpu = hub.cpu_seconds() - cpu
            seconds = [float(row[0]) for row in fetch_rows(
                url, f"SELECT {_seconds_sql(database)} FROM hub_job WHERE kind = 'enrich' AND status = 'done'")]
            attempts = fetch_rows(url, "SELECT coalesce(sum(attempts), 0) FROM hub_job WHERE kind = 'enrich'")[0][0]
            stats = json.loads(github.get("/_bench/stats"))
            errors_logged = hub.log.read_text(errors="replace").count(" ERROR ")
        finally:
            hub.stop()
    finally:
        github.stop()
    return {
        "database": database, "issues": count, "github_delay_s": options.github_delay,
        "posted_seconds": posted["seconds"], "post_errors": posted["errors"], "post_samples": posted["error_samples"],
        **time_to_enriched(seconds, count), "wall_s": round(wall, 2), "jobs": states,
        # The hub's CPU from the first delivery to the last enrichment (both paths), per issue.
        "hub_cpu_ms_per_issue": round(1000 * cpu / count, 2),
        "job_attempts": int(attempts), "github_calls": stats["requests"],
        "github_calls_per_issue": round(stats["requests"] / count, 3),
        "github_peak_concurrent": stats["peak_concurrent"], "github_peak_per_minute": stats["peak_per_minute"],
        "github_by_route": stats["by_route"], "errors_logged": errors_logged,
    }


def run_burst(options: Options) -> dict[str, Any]:
    """Run the burst on each database of ``options``; the figures per database."""
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    run_state = _Run(options, workdir)
    results: list[dict[str, Any]] = []
    with ExitStack() as cleanup:
        if options.keep:
            cleanup.callback(_say, f"bench: logs and SQLite files kept in {workdir}")
        else:
            cleanup.callback(shutil.rmtree, workdir, True)
        pg = None
        if "postgresql" in options.databases:
            try:
                pg = Postgres(options.postgres)
            except Exception as exc:
                raise RuntimeError(f"PostgreSQL is not reachable at {options.postgres} ({exc}); "
                                   f"use --postgres URL, or --only sqlite") from None
            cleanup.callback(pg.drop_all)
        cleanup.callback(run_state.stop_load)
        for database in options.databases:
            results.append(_one(options, database, workdir, pg if database == "postgresql" else None, run_state))
    return {"burst": results, "elapsed_seconds": round(time.time() - started, 1)}
