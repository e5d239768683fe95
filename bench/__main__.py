"""``uv run python -m bench``: webhook ingest of the hub against a raw baseline, in one run.

Contenders take turns in every round (baseline, hub create, hub dedupe, hub create with a slow
GitHub), so drift of the machine during the run touches all of them alike. Figures are reported
as ratios against the baseline of the same database, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import psycopg

from bench.load import seed
from bench.report import summarise, table
from bench.servers import ROOT, Process, baseline_server, fake_github, hub_server

SECRET = "bench-secret"
PG_SERVER = os.environ.get("HUB_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Contender:
    """One line of the table: a server, a load mode, and the baseline it is compared with."""

    name: str
    database: str
    server: Process
    mode: str
    baseline: str | None


def _load(contender: Contender, args: argparse.Namespace, duration: float, prefix: str) -> dict:
    url = contender.server.url + ("/" if contender.baseline is None else "/api/sentry/webhook")
    argv = [sys.executable, "-m", "bench.load", url, "--connections", str(args.connections), "--duration",
            str(duration), "--mode", contender.mode, "--secret", SECRET, "--prefix", prefix]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=duration + 120)
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def _pg_database(stack: ExitStack) -> str:
    name = f"hub_bench_{os.getpid()}"
    admin = psycopg.connect(PG_SERVER.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    stack.callback(drop)
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def _contenders(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> list[Contender]:
    contenders: list[Contender] = []

    def started(process: Process) -> Process:
        stack.callback(process.stop)
        return process.start()

    if args.only in ("both", "pg"):
        url = _pg_database(stack)
        base = started(baseline_server("baseline-pg", workdir, SECRET, BENCH_DSN=url))
        hub = started(hub_server("hub-pg", workdir, url, SECRET))
        contenders += [Contender("baseline", "postgresql", base, "create", None),
                       Contender("hub create", "postgresql", hub, "create", "baseline"),
                       Contender("hub dedupe", "postgresql", hub, "dedupe", "baseline")]
        if args.github_delay > 0:
            github = started(fake_github(workdir, args.github_delay))
            slow = started(hub_server("hub-pg-slow-github", workdir, url, SECRET, GITHUB_TOKEN="bench-token",
                                      GITHUB_REPO="bench/bench", GITHUB_API_URL=github.url))
            contenders.append(Contender(f"hub create, GitHub +{args.github_delay:g}s", "postgresql", slow,
                                        "create", "baseline"))
    if args.only in ("both", "sqlite"):
        base = started(baseline_server("baseline-sqlite", workdir, SECRET, BENCH_SQLITE=str(workdir / "baseline.db")))
        hub = started(hub_server("hub-sqlite", workdir, f"sqlite+aiosqlite:///{workdir / 'hub.db'}", SECRET))
        contenders += [Contender("baseline", "sqlite", base, "create", None),
                       Contender("hub create", "sqlite", hub, "create", "baseline"),
                       Contender("hub dedupe", "sqlite", hub, "dedupe", "baseline")]
    return contenders


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark; print the table; write and return the results."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8, help="seconds of load per contender per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["both", "pg", "sqlite"], default="both")
    parser.add_argument("--github-delay", type=float, default=5.0, help="seconds the fake GitHub takes (0: leave out)")
    parser.add_argument("--output", help="JSON results file (default bench/results/<UTC time>.json)")
    args = parser.parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    rounds: list[dict] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        workdir = Path(tmp)
        contenders = _contenders(args, stack, workdir)
        for contender in contenders:
            if contender.mode == "dedupe":
                asyncio.run(seed(contender.server.url + "/api/sentry/webhook", SECRET, f"{run_id}-{contender.database}"))
        for contender in contenders:  # warm-up, not recorded: imports, pools, caches
            _load(contender, args, 1.0, f"{run_id}-warm-{contender.database}")
        for number in range(args.rounds):
            for contender in contenders:
                prefix = f"{run_id}-{contender.database}" if contender.mode == "dedupe" else f"{run_id}-{number}-{contender.name}"
                figures = _load(contender, args, args.duration, prefix)
                rounds.append({"round": number, "contender": contender.name, "database": contender.database, **figures})
                print(f"round {number + 1}/{args.rounds} {contender.database:10} {contender.name:28} "
                      f"{figures['rps']:8.1f} req/s  p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']}",
                      file=sys.stderr)
        memory = {f"{c.database}/{c.name}": c.server.peak_memory_mib() for c in contenders}
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "machine": {"cpus": os.cpu_count()},
        "settings": vars(args),
        "rounds": rounds,
        "summary": summarise(rounds, memory),
    }
    print(table(results["summary"]))
    output = Path(args.output) if args.output else ROOT / "bench" / "results" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    print(f"results: {output}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
