"""``uv run python -m bench``: how fast the hub ingests webhooks, next to what the machine allows.

Contenders (each on PostgreSQL and on SQLite unless ``--only``): a raw baseline (HMAC, JSON, two
rows in one transaction), the hub's create path (a new Sentry issue per delivery), its dedupe
path (issues it already tracks), and on the first database the create path while a fake GitHub
answers enrichment calls seconds late. Prints a table, writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any
from dataclasses import asdict
from pathlib import Path

from bench import profile as profiling
from bench import report
from bench.databases import DEFAULT_POSTGRES
from bench.runner import Options, run
from bench.servers import SERVERS, missing_server_modules

__all__ = ["main", "parse_options"]


def parse_options(argv: Sequence[str] | None = None) -> tuple[Options, Path | None]:
    """The command's flags as Options, and the JSON output path (None: the default)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per contender per round (5)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; contenders alternate within each (3)")
    parser.add_argument("--only", choices=["pg", "sqlite"], help="one database instead of both")
    parser.add_argument("--server", default="uvicorn",
                        help=f"ASGI server(s), comma-separated: {', '.join(SERVERS)} (default uvicorn, as `hub serve`)")
    parser.add_argument("--github-delay", type=float, default=5.0,
                        help="seconds the fake GitHub waits before each answer (5; 0 leaves that contender out)")
    parser.add_argument("--output", type=Path, help="JSON results file (default bench/results/<UTC time>.json)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds of load per contender first (1)")
    parser.add_argument("--dedupe-issues", type=int, default=500,
                        help="Sentry issues created first, then delivered again by the dedupe path (500)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES,
                        help="PostgreSQL server to create the run's databases on ($BENCH_POSTGRES_URL)")
    parser.add_argument("--log-level", default="INFO", help="the hubs' [hub] log_level (INFO, the default)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="after the rounds, profile each hub path with py-spy into DIR (needs --with py-spy)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (server logs, SQLite files)")
    parser.add_argument("--reads-at-scale", action="store_true",
                        help="instead: first pages of every list on PostgreSQL preloaded with --issues and "
                             "--deliveries against a small database, and ingest on both (~4 min)")
    parser.add_argument("--issues", type=int, default=1_000_000, help="issues preloaded for --reads-at-scale")
    parser.add_argument("--deliveries", type=int, default=2_000_000,
                        help="delivery-log rows preloaded for --reads-at-scale")
    parser.add_argument("--read-repeats", type=int, default=15, help="requests per list and database (median)")
    parser.add_argument("--burst", type=int, default=0, metavar="N",
                        help="instead: N new Sentry issues of one deploy at once, each timed until enriched by a "
                             "hub whose fake GitHub answers after --github-delay (e.g. --burst 500 --github-delay 0.3)")
    parser.add_argument("--burst-timeout", type=float, default=300.0,
                        help="seconds to wait for the burst's enrichment (300)")
    args = parser.parse_args(argv)
    if args.reads_at_scale:
        return args, None  # type: ignore[return-value]  (main hands these to bench.reads)
    servers = tuple(dict.fromkeys(name.strip() for name in args.server.split(",") if name.strip()))
    for server in servers:
        if server not in SERVERS:
            parser.error(f"unknown server {server!r} (known: {', '.join(SERVERS)})")
        missing = missing_server_modules(server)
        if missing:
            parser.error(f"--server {server} needs {', '.join(missing)}: "
                         f"uv run {' '.join('--with ' + module for module in missing)} python -m bench ...")
    if args.profile is not None and profiling.py_spy() is None:
        parser.error("--profile needs py-spy: uv run --with py-spy python -m bench --profile DIR")
    if args.duration <= 0 or args.rounds < 1 or args.connections < 1 or args.dedupe_issues < 1:
        parser.error("--duration, --rounds, --connections and --dedupe-issues must be positive")
    if args.burst < 0 or (args.burst and (args.github_delay < 0 or args.burst_timeout <= 0)):
        parser.error("--burst needs a positive N, --github-delay >= 0 and a positive --burst-timeout")
    options = Options(duration=args.duration, connections=args.connections, rounds=args.rounds, only=args.only,
                      servers=servers, github_delay=args.github_delay, warmup=args.warmup,
                      dedupe_issues=args.dedupe_issues, postgres=args.postgres, log_level=args.log_level,
                      profile=args.profile, keep=args.keep, burst=args.burst, burst_timeout=args.burst_timeout)
    return options, args.output


def _postgres_version(options: Options) -> str | None:
    if "postgresql" not in options.databases:
        return None
    try:
        import psycopg

        from hub.db import libpq_url

        with psycopg.connect(libpq_url(options.postgres), connect_timeout=5) as connection:
            return connection.execute("SHOW server_version").fetchone()[0]
    except Exception:  # only a label in the JSON: never worth failing a finished run for
        return None


def _interrupt(_signum: int, _frame: object) -> None:
    # SIGTERM takes the same way out as Ctrl-C: every process stopped, every database dropped.
    raise KeyboardInterrupt


def _reads_at_scale(args: argparse.Namespace) -> int:
    """The reads-at-scale contender (bench/reads.py): print its table, write its JSON."""
    import json
    import time

    from bench import reads

    try:
        result = reads.run_reads(args.postgres, args.issues, args.deliveries, args.read_repeats,
                                 args.duration, args.rounds, args.connections)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130
    path = args.output or Path(__file__).parent / "results" / time.strftime("reads-%Y%m%dT%H%M%SZ.json", time.gmtime())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(reads.table(result))
    print(f"\nresults: {path}")
    return 0


def _run_and_write(run_it: Any, make_document: Any, options: Options, output: Path | None) -> tuple[dict, Path] | int:
    """Run a scenario and write its JSON document: the document and its path, or the exit status
    of a run that was interrupted (130) or could not start (1, said on standard error)."""
    try:
        results = run_it(options)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(options).items()}
    document = make_document(results, settings, _postgres_version(options))
    return document, report.write(document, output)


def _burst(options: Options, output: Path | None) -> int:
    """The burst scenario (bench/burst.py): print its table and verdict, write its JSON; 1 if it failed."""
    from bench.burst import run_burst

    ran = _run_and_write(run_burst, report.burst_document, options, output)
    if isinstance(ran, int):
        return ran
    document, path = ran
    print(report.burst_table(document["burst"]))
    print()
    for line in document["targets"]:
        print(line)
    print(f"\nresults: {path} ({document['elapsed_seconds']:.0f} s)")
    failed = any(row["post_errors"] or row["enriched"] < row["issues"] for row in document["burst"])
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and the targets, write the JSON; 1 if any request failed."""
    options, output = parse_options(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    if isinstance(options, argparse.Namespace):
        return _reads_at_scale(options)
    if options.burst:
        return _burst(options, output)
    ran = _run_and_write(run, report.document, options, output)
    if isinstance(ran, int):
        return ran
    document, path = ran
    print(report.table(document["summary"]))
    print()
    for line in document["targets"]:
        print(line)
    for check in document["checks"]:
        if not check["ok"]:
            print(f"check failed: {check['target']} wrote {check['found']}, its answers promised {check['expected']}")
    if document["github"]:
        print(f"GitHub-delayed hub: jobs {document['github']['jobs']}, "
              f"fake GitHub answered {document['github']['fake_github']['requests']} requests")
    print(f"\nresults: {path} ({document['elapsed_seconds']:.0f} s)")
    failed = any(row["errors"] for row in document["summary"]) or not all(c["ok"] for c in document["checks"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
