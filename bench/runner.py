"""One benchmark run: start the servers, seed, warm up, alternate the contenders in rounds, check
what was written, stop everything.

Contenders take turns within every round, in an order rotated from round to round, so slow
drift of the machine (other processes, PostgreSQL checkpoints, tables growing) touches all of
them alike, and each hub figure is compared with the baseline measured minutes apart.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import profile as profiling
from bench.baseline import POOL_MAX
from bench.databases import DEFAULT_POSTGRES, Postgres, count_rows, postgres_sessions
from bench.load import LoadSpec
from bench.servers import (
    ROOT,
    ServerProcess,
    baseline_server,
    clean_env,
    fake_github,
    hub_server,
    machine_cpu,
    postgres_cpu_seconds,
)

__all__ = ["Contender", "Options", "Target", "percentile", "run"]

#: The webhook secret of every server of the run (SENTRY_CLIENT_SECRET of the hubs).
SECRET = "bench-webhook-secret"
#: A guess at the fastest contender's rate, to size the first batch of pre-signed deliveries.
FIRST_RATE_GUESS = 3000.0


@dataclass
class Options:
    """Everything a run is configured with (the command's flags)."""

    duration: float = 5.0
    connections: int = 32
    rounds: int = 3
    only: str | None = None
    servers: tuple[str, ...] = ("uvicorn",)
    github_delay: float = 5.0
    warmup: float = 1.0
    dedupe_issues: int = 500
    postgres: str = DEFAULT_POSTGRES
    log_level: str = "INFO"
    profile: Path | None = None
    keep: bool = False
    #: Instead of the contenders: this many new issues at once, timed until enriched (bench/burst.py).
    burst: int = 0
    burst_timeout: float = 300.0

    @property
    def databases(self) -> list[str]:
        """The databases this run covers, PostgreSQL first."""
        return {"pg": ["postgresql"], "sqlite": ["sqlite"]}.get(self.only or "", ["postgresql", "sqlite"])


@dataclass
class Target:
    """One server process and the database it writes to."""

    name: str
    role: str
    database: str
    server: str
    process: ServerProcess
    db_url: str
    next_id: int = 1
    seeded: tuple[int, int] | None = None
    answered_200: int = 0
    created: int = 0
    peak_kib: int = 0


@dataclass
class Contender:
    """One row of the table: a target and the deliveries it gets."""

    label: str
    target: Target
    mode: str
    expect: str
    baseline: Contender | None = None
    rate_hint: float = FIRST_RATE_GUESS
    rounds: list[dict[str, Any]] = field(default_factory=list)
    latencies_us: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Unique name: database/server/label."""
        return f"{self.target.database}/{self.target.server}/{self.label}"


#: A hub's PostgreSQL connections under webhook load: ``[database] pool_size`` (20) for webhooks
#: and its engine's steady quarter of that (hub/db.py engine_pool_size; webhooks that create or
#: deduplicate never need the engine's overflow).
HUB_CONNECTIONS = 25


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _hub_config(log_level: str, worker: bool) -> str:
    # Defaults otherwise (pool size, timeouts): the benchmark measures the hub as shipped.
    return f'[hub]\nlog_level = "{log_level}"\n\n[worker]\nenabled = {"true" if worker else "false"}\n'


def _plan(options: Options, workdir: Path, pg: Postgres | None) -> tuple[list[Target], list[Contender], list[ServerProcess]]:
    """The targets (servers with their databases), the contenders, and helper processes."""
    targets: list[Target] = []
    contenders: list[Contender] = []
    helpers: list[ServerProcess] = []
    for database in options.databases:
        short = "pg" if database == "postgresql" else "sqlite"
        for server in options.servers:
            tag = f"{short}-{server}"
            if pg is not None and database == "postgresql":
                base_url = pg.create(f"baseline_{server}".replace("-", "_"))
                hub_url = pg.create(f"hub_{server}".replace("-", "_"))
                base_env = {"BENCH_SECRET": SECRET, "BENCH_BASELINE_DSN": base_url}
            else:
                base_url = str(workdir / f"baseline-{server}.db")
                hub_url = f"sqlite+aiosqlite:///{workdir / f'hub-{server}.db'}"
                base_env = {"BENCH_SECRET": SECRET, "BENCH_BASELINE_SQLITE": base_url}
            baseline = Target(f"baseline-{tag}", "baseline", database, server,
                              baseline_server(f"baseline-{tag}", server, workdir, base_env), base_url)
            hub = Target(f"hub-{tag}", "hub", database, server,
                         hub_server(f"hub-{tag}", server, workdir, _hub_config(options.log_level, worker=False),
                                    {"DATABASE_URL": hub_url, "SENTRY_CLIENT_SECRET": SECRET}), hub_url)
            targets += [baseline, hub]
            base = Contender("baseline", baseline, "once", "any")
            contenders += [base, Contender("hub create", hub, "once", "created", base),
                           Contender("hub dedupe", hub, "cycle", "deduplicated", base)]
            # Once per run, on its first database (PostgreSQL unless --only sqlite) and server.
            if database == options.databases[0] and server == options.servers[0] and options.github_delay > 0:
                github = fake_github(workdir, options.github_delay)
                helpers.append(github)
                if pg is not None and database == "postgresql":
                    slow_url = pg.create(f"hub_github_{server}".replace("-", "_"))
                else:
                    slow_url = f"sqlite+aiosqlite:///{workdir / f'hub-github-{server}.db'}"
                env = {"DATABASE_URL": slow_url, "SENTRY_CLIENT_SECRET": SECRET, "GITHUB_TOKEN": "bench-token",
                       "GITHUB_REPO": "bench/bench", "GITHUB_API_URL": github.url}
                slow = Target(f"hub-github-{tag}", "hub", database, server,
                              hub_server(f"hub-github-{tag}", server, workdir,
                                         _hub_config(options.log_level, worker=True), env), slow_url)
                targets.append(slow)
                contenders.append(Contender(f"hub create, GitHub +{options.github_delay:g} s", slow, "once",
                                            "created", base))
    return targets, contenders, helpers


class _Run:
    """The mutable state of one run: the run's token, counters, the load process running now."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.token = uuid.uuid4().hex[:8]
        self.specs = 0
        self.loads = 0
        self.load_process: subprocess.Popen | None = None

    def spec(self, contender: Contender, duration: float) -> LoadSpec:
        """The load for one turn of ``contender``: fresh Sentry ids, or the seeded ones again."""
        target = contender.target
        self.specs += 1
        common = {"port": target.process.port, "secret": SECRET, "request_ids": f"bench-{self.token}-{self.specs}",
                      "connections": self.options.connections, "duration": duration, "expect": contender.expect}
        if contender.mode == "cycle":
            start, count = target.seeded
            return LoadSpec(mode="cycle", id_start=start, count=count, **common)
        # Enough pre-signed deliveries for twice the rate seen last time: never running out is
        # what matters, a few MB of unused bodies do not.
        count = int(contender.rate_hint * duration * 2) + 4 * self.options.connections + 200
        spec = LoadSpec(mode="once", id_start=target.next_id, count=count, **common)
        target.next_id += count
        return spec

    def load(self, contender: Contender, spec: LoadSpec, on_start: Callable[[], None] | None = None) -> dict[str, Any]:
        """Run one load process against ``contender``; measure the server around the timed window."""
        target = contender.target
        self.loads += 1
        log = (self.workdir / f"load-{self.loads}.log").open("wb")
        self.load_process = process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"], cwd=ROOT, env=clean_env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        try:
            process.stdin.write(json.dumps(asdict(spec)) + "\n")
            process.stdin.flush()
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"load generator failed before starting:\n{self._load_log()}")
            sessions = _sessions(target)
            database = postgres_cpu_seconds() if target.database == "postgresql" else None
            cpu, machine = target.process.cpu_seconds(), machine_cpu()
            if on_start is not None:
                on_start()
            process.stdin.write("go\n")
            process.stdin.flush()
            line = process.stdout.readline()
            machine_after, cpu_after = machine_cpu(), target.process.cpu_seconds()
            database_after = postgres_cpu_seconds() if database is not None else None
            if not line:
                raise RuntimeError(f"load generator failed:\n{self._load_log()}\n--- {target.name}:\n"
                                   f"{target.process.tail()}")
            result = json.loads(line)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
            self.load_process = None
        target.peak_kib = max(target.peak_kib, target.process.peak_memory_kib())
        busy, total = machine_after[0] - machine[0], machine_after[1] - machine[1]
        answered = result["completed"] + result["drained"]
        result["server_cpu_seconds"] = round(cpu_after - cpu, 3)
        result["server_cpu_ms_per_request"] = round(1000 * (cpu_after - cpu) / answered, 3) if answered else None
        result["database_cpu_seconds"] = (round(database_after - database, 3)
                                          if database is not None and database_after is not None else None)
        result["machine_cpu_busy"] = round(busy / total, 3) if total else None
        after = _sessions(target)
        result["postgres_new_sessions"] = None if sessions is None or after is None else after - sessions
        ok = result["statuses"].get("200", 0)
        target.answered_200 += ok
        if spec.expect in ("created", "any"):
            target.created += ok - result["unexpected"]
        return result

    def _load_log(self) -> str:
        path = self.workdir / f"load-{self.loads}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop_load(self) -> None:
        """Kill a load process left running (interrupted run)."""
        if self.load_process is not None and self.load_process.poll() is None:
            try:
                os.killpg(self.load_process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.load_process.wait()


def _sessions(target: Target) -> int | None:
    if target.database != "postgresql":
        return None
    try:
        return postgres_sessions(target.db_url)
    except Exception:  # a diagnostic figure: a run must not fail for want of it
        return None


def percentile(ordered: list[int], q: float) -> float | None:
    """Nearest-rank percentile of sorted microseconds, in milliseconds."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] / 1000, 2)


def _round_row(number: int, contender: Contender, result: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(result.pop("latencies_us"))
    contender.latencies_us += latencies
    seconds = result["seconds"]
    row = {"round": number, "contender": contender.key, "database": contender.target.database,
           "server": contender.target.server, "label": contender.label,
           "rps": round(result["completed"] / seconds, 1) if seconds else 0.0,
           "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99),
           "max_ms": percentile(latencies, 1.0),
           "peak_memory_mib": round(contender.target.peak_kib / 1024, 1), **result}
    row["client_cpu_share"] = round(result["client_cpu_seconds"] / seconds, 3) if seconds else None
    return row


def _progress(row: dict[str, Any], rounds: int) -> str:
    flags = " (ran out of pre-signed deliveries: raise the rate guess)" if row["exhausted"] else ""
    return (f"round {row['round'] + 1}/{rounds}  {row['contender']:<42} {row['rps']:8.1f} req/s  "
            f"p50 {row['p50_ms'] or 0:7.1f} ms  p99 {row['p99_ms'] or 0:7.1f} ms  errors {row['errors']}{flags}")


def _start_all(processes: list[ServerProcess]) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.wait_ready()


def _seed_spec(run: _Run, target: Target, count: int, connections: int, name: str) -> LoadSpec:
    spec = LoadSpec(port=target.process.port, secret=SECRET, request_ids=f"bench-{run.token}-{name}-{target.name}",
                    connections=connections, duration=0, mode="once", id_start=target.next_id, count=count,
                    expect="created")
    target.next_id += count
    return spec


def _seed(run: _Run, contenders: list[Contender]) -> list[dict[str, Any]]:
    """Give every hub its first issue alone, then create the issues the dedupe contenders deliver again.

    The first delivery goes alone because a fresh database's first concurrent burst is not what
    is measured (and, at the time of writing, hits a race in the hub's label cache: see
    docs/performance.md). Seeding also warms the hubs up.
    """
    seeds = []
    primed: set[str] = set()
    for contender in contenders:
        target = contender.target
        if target.role != "hub":
            continue
        steps = []
        if target.name not in primed:
            primed.add(target.name)
            steps.append(_seed_spec(run, target, 1, 1, "first"))
        if contender.mode == "cycle" and target.seeded is None:
            spec = _seed_spec(run, target, run.options.dedupe_issues, run.options.connections, "seed")
            target.seeded = (spec.id_start, spec.count)
            steps.append(spec)
        for spec in steps:
            result = run.load(contender, spec)
            result.pop("latencies_us")
            if result["errors"] or result["statuses"].get("200") != spec.count:
                raise RuntimeError(f"seeding {target.name} failed: {result['statuses']} {result['error_samples']}")
            seeds.append({"target": target.name, "issues": spec.count, "connections": spec.connections,
                          "seconds": result["seconds"]})
    return seeds


def _checks(targets: list[Target]) -> list[dict[str, Any]]:
    """What each server wrote, against what its 200 answers promised."""
    checks = []
    for target in targets:
        if target.role == "baseline":
            queries = {"issues": "SELECT count(*) FROM bench_issue", "deliveries": "SELECT count(*) FROM bench_delivery"}
            expected = {"issues": target.created, "deliveries": target.answered_200}
        else:
            queries = {"issues": "SELECT count(*) FROM chipp_issue", "links": "SELECT count(*) FROM chipp_external_issue",
                       "jobs": "SELECT count(*) FROM hub_job", "deliveries": "SELECT count(*) FROM hub_delivery"}
            expected = {"issues": target.created, "links": target.created, "jobs": target.created,
                        "deliveries": target.answered_200}
        found = count_rows(target.db_url, queries)
        checks.append({"target": target.name, "found": found, "expected": expected, "ok": found == expected})
    return checks


def _github_evidence(targets: list[Target], helpers: list[ServerProcess]) -> dict[str, Any] | None:
    slow = next((target for target in targets if target.name.startswith("hub-github-")), None)
    github = next((helper for helper in helpers if helper.name == "fake-github"), None)
    if slow is None or github is None:
        return None
    jobs = count_rows(slow.db_url, {status: f"SELECT count(*) FROM hub_job WHERE status = '{status}'"
                                    for status in ("queued", "running", "done", "failed")})
    return {"jobs": jobs, "fake_github": json.loads(github.get("/_bench/stats"))}


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return the results (rounds, summaries inputs, checks, evidence)."""
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    run_state = _Run(options, workdir)
    processes: list[ServerProcess] = []
    pg: Postgres | None = None
    results: dict[str, Any] = {}
    with ExitStack() as cleanup:
        if options.keep:
            cleanup.callback(_say, f"bench: logs and SQLite files kept in {workdir}")
        else:
            cleanup.callback(shutil.rmtree, workdir, True)
        if "postgresql" in options.databases:
            try:
                pg = Postgres(options.postgres)
            except Exception as exc:  # any failure to connect ends the run with one clear line
                raise RuntimeError(f"PostgreSQL is not reachable at {options.postgres} ({exc}); "
                                   f"use --postgres URL, or --only sqlite") from None
            cleanup.callback(pg.drop_all)
        targets, contenders, helpers = _plan(options, workdir, pg)
        if pg is not None:
            # Once loaded, a baseline keeps its 20 connections and a hub its webhook pool and engine
            # (each pool keeps what it opened for minutes), and the runner needs a few to count
            # rows at the end: refuse a run that cannot finish.
            wanted = sum(POOL_MAX if target.role == "baseline" else HUB_CONNECTIONS
                         for target in targets if target.database == "postgresql") + 3
            spare = pg.spare_connections()
            if wanted > spare:
                raise RuntimeError(f"the servers would open up to {wanted} PostgreSQL connections and the server "
                                   f"accepts {spare} more (max_connections): compare fewer --server at once")
        processes = helpers + [target.process for target in targets]

        def stop_everything() -> None:
            # Hubs first (their workers call the fake GitHub), helpers last; no Ctrl-C half-way.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                run_state.stop_load()
                for process in reversed(processes):
                    process.stop()
            finally:
                signal.signal(signal.SIGINT, previous)

        cleanup.callback(stop_everything)
        _say(f"bench: starting {len(processes)} processes in {workdir}")
        try:
            _start_all(processes)
            results["seeds"] = _seed(run_state, contenders)
            for contender in contenders:  # warm-up: not recorded
                result = run_state.load(contender, run_state.spec(contender, options.warmup))
                contender.rate_hint = max(100.0, result["completed"] / max(result["seconds"], 1e-3))
                if result["errors"]:
                    _say(f"bench: warm-up of {contender.key}: {result['errors']} errors: {result['error_samples']}")
            rows = []
            for number in range(options.rounds):
                shift = number % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    result = run_state.load(contender, run_state.spec(contender, options.duration))
                    row = _round_row(number, contender, result)
                    contender.rate_hint = max(100.0, row["rps"])
                    contender.rounds.append(row)
                    rows.append(row)
                    _say(_progress(row, options.rounds))
            if options.profile is not None:
                results["profile"] = _profile(run_state, contenders, options)
            results["github"] = _github_evidence(targets, helpers)
            results["checks"] = _checks(targets)
        except BaseException:
            _explain_failure(processes)
            raise
        results["rounds"] = rows
        results["contenders"] = contenders
        results["targets"] = [{"name": t.name, "role": t.role, "database": t.database, "server": t.server,
                               "argv": " ".join(t.process.argv[1:]),
                               "peak_memory_mib": round(t.peak_kib / 1024, 1)} for t in targets]
    results["elapsed_seconds"] = round(time.time() - started, 1)
    return results


def _explain_failure(processes: list[ServerProcess]) -> None:
    """Show the end of the log of every server that died or logged an error (the workdir goes)."""
    for process in processes:
        died = process.process is not None and process.process.poll() is not None
        try:
            text = process.log.read_text(errors="replace")
        except OSError:
            continue
        if died or "Traceback" in text or " ERROR " in text:
            start = text.find("Traceback")
            excerpt = text[start:start + 4000] if start >= 0 else process.tail()
            _say(f"bench: {process.name} {'exited' if died else 'logged errors'}; its log says:\n{excerpt}")


def _profile(run_state: _Run, contenders: list[Contender], options: Options) -> dict[str, Any]:
    """One extra, unrecorded turn per hub contender with py-spy attached; summaries of the samples."""
    options.profile.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for contender in contenders:
        if contender.target.role != "hub" or contender.target.name.startswith("hub-github-"):
            continue
        name = contender.key.replace("/", "-").replace(" ", "-").replace(",", "")
        output = options.profile / f"{name}.txt"
        recorder: list[subprocess.Popen] = []

        def attach(target: Target = contender.target, output: Path = output,
                   recorder: list[subprocess.Popen] = recorder) -> None:
            recorder.append(profiling.record(target.process.pids()[0], options.duration, output))
            time.sleep(0.5)  # py-spy needs a moment to attach before the load starts

        result = run_state.load(contender, run_state.spec(contender, options.duration), on_start=attach)
        result.pop("latencies_us")
        profiling.wait(recorder[0])
        summary = profiling.summarize(output)
        summary["rps_while_profiled"] = round(result["completed"] / result["seconds"], 1)
        (options.profile / f"{name}.summary.txt").write_text(profiling.render(contender.key, summary))
        summaries[contender.key] = summary
        _say(f"bench: profile of {contender.key}: {output}")
    return summaries
