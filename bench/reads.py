"""Reads at scale: the first page of each list on a PostgreSQL database preloaded with 1,000,000
issues and 2,000,000 delivery-log rows, against the same on a small one, in one run; and webhook
ingest on both.

``uv run python -m bench --reads-at-scale`` (about 4 minutes on 2 cores, most of it the preload).
The big database is filled with set-based SQL (``generate_series``), never row by row. The small
one holds one full page (100 issues, 200 deliveries), so both answers carry 50 rows and the ratio
measures the table's size, not an empty page's cheaper rendering. Requests alternate between the
two hubs, one at a time (latency, not throughput); each list's figure is the median of
``--read-repeats``. Ingest: new Sentry issues, 32 connections, both hubs alternating per round.
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import load
from bench.databases import Postgres
from bench.servers import hub_server

__all__ = ["LISTS", "preload", "run_reads"]

SECRET = "bench-webhook-secret"

#: Each list's first page, as the API and the console serve it.
LISTS = {
    "api all": "/api/issues",
    "api status": "/api/issues?status=open",
    "api label": "/api/issues?label=Sentry",
    "api search": "/api/issues?q=checkout",
    "api search rare": "/api/issues?q=handler_42",
    "api priority": "/api/issues?sort=priority",
    "console issues": "/issues",
    "console status": "/issues?status=open",
    "console label": "/issues?label=Sentry",
    "console search": "/issues?q=checkout",
    "console deliveries": "/deliveries",
    "console outcome": "/deliveries?outcome=created",
    "console jobs": "/jobs",
    "console overview": "/",
}

_PRELOAD = """
INSERT INTO chipp_label (id, name, color, created_at)
VALUES ('bench-label-sentry', 'Sentry', '#362D59', now()), ('bench-label-regression', 'regression', '#B60205', now())
ON CONFLICT (name) DO NOTHING;

INSERT INTO chipp_issue (id, number, identifier, title, description, priority, status, assignee, created_at,
                         updated_at, closed_at, source)
SELECT md5('i' || n)::uuid::text, n, 'CHIPP-' || n,
       format('[%s] %s in %s.handler_%s', (ARRAY['web','api','worker'])[1 + n % 3],
              (ARRAY['TypeError','ValueError','KeyError','TimeoutError','ConnectionError'])[1 + n % 5],
              (ARRAY['checkout','billing','search','auth','upload','cart','profile','orders'])[1 + (n / 5) % 8],
              n % 997),
       '## Error' || E'\\n\\n' || '**Type:** TypeError **Message:** cannot read property of undefined (event ' || n
              || ')' || E'\\n\\n' || '## Location' || E'\\n\\n' || '**File:** `src/app/module_' || (n % 311) || '.ts`',
       'P' || (n % 5), CASE WHEN n % 10 < 7 THEN 'closed' ELSE 'open' END,
       CASE WHEN n % 4 = 0 THEN (ARRAY['ana','bo','chen','dev'])[1 + n % 4] END,
       now() - ((:issues - n) * interval '30 seconds'), now() - ((:issues - n) * interval '30 seconds'),
       CASE WHEN n % 10 < 7 THEN now() - ((:issues - n) * interval '20 seconds') END, 'sentry'
FROM generate_series(1, :issues) AS n;

INSERT INTO chipp_issue_label (issue_id, label_id)
SELECT md5('i' || n)::uuid::text, 'bench-label-sentry' FROM generate_series(1, :issues) AS n
UNION ALL
SELECT md5('i' || n)::uuid::text, 'bench-label-regression' FROM generate_series(1, :issues) AS n WHERE n % 100 = 0;

INSERT INTO chipp_external_issue (id, issue_id, source, external_id, external_url, metadata, created_at)
SELECT md5('l' || n)::uuid::text, md5('i' || n)::uuid::text, 'sentry', 'pre-' || n,
       'https://sentry.io/organizations/example/issues/pre-' || n || '/', '{"project": "web"}'::jsonb,
       now() - ((:issues - n) * interval '30 seconds')
FROM generate_series(1, :issues) AS n;

INSERT INTO hub_delivery (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes,
                          body_sha256, created_at, status, body)
SELECT md5('d' || n)::uuid::text, 'sentry', CASE WHEN n % 50 = 0 THEN NULL ELSE 'pre-' || n END,
       'resource=issue, action=created, substatus=new',
       CASE WHEN n % 50 = 0 THEN 'unauthorized'
            ELSE (ARRAY['created','deduplicated','deduplicated','updated','skipped'])[1 + n % 5] END,
       NULL, md5('i' || (1 + ((n - 1) / 2) % :issues))::uuid::text,
       '{"content-type": "application/json", "sentry-hook-resource": "issue"}'::jsonb,
       jsonb_build_object('success', true, 'issue', jsonb_build_object('identifier', 'CHIPP-' || (1 + ((n - 1) / 2) % :issues))),
       NULL, NULL, now() - ((:deliveries - n) * interval '15 seconds'), CASE WHEN n % 50 = 0 THEN 401 ELSE 200 END,
       '{"action":"created","data":{"issue":{"id":"pre-' || (1 + ((n - 1) / 2) % :issues) || '","title":"TypeError in checkout",'
           || '"culprit":"src/app/module.ts","level":"error","status":"unresolved","count":"' || n || '"}}}'
FROM generate_series(1, :deliveries) AS n;

SELECT setval(pg_get_serial_sequence('chipp_issue_number', 'number'), :issues + 10);
"""


def preload(url: str, issues: int, deliveries: int) -> float:
    """Fill a migrated PostgreSQL database with ``issues`` issues (labels, links) and ``deliveries``
    delivery-log rows, set-based; ANALYZE it. Returns the seconds it took."""
    import psycopg

    started = time.monotonic()
    sql = _PRELOAD.replace(":issues", str(int(issues))).replace(":deliveries", str(int(deliveries)))
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '256MB'")
        for statement in filter(str.strip, sql.split(";\n")):
            connection.execute(statement)
        connection.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def _token(url: str, workdir: Path, server: Any) -> str:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "hub.cli", "token", "create", f"bench-{uuid.uuid4().hex[:6]}",
                           "--scope", "admin"], env={**server.env, "DATABASE_URL": url}, cwd=workdir,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


def _get_ms(port: int, path: str, token: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed


def _ingest(port: int, tag: str, seconds: float, connections: int) -> float:
    spec = load.LoadSpec(port=port, secret=SECRET, request_ids=f"reads-{tag}", connections=connections,
                         duration=seconds, mode="once", id_prefix=f"ingest-{tag}-", count=40_000, expect="created")
    result = asyncio.run(load.run(spec))
    if result["errors"]:
        raise RuntimeError(f"ingest {tag}: {result['errors']} errors {result['error_samples'][:2]}")
    return result["completed"] / result["seconds"]


def run_reads(postgres: str, issues: int = 1_000_000, deliveries: int = 2_000_000, repeats: int = 15,
              ingest_seconds: float = 5.0, ingest_rounds: int = 2, connections: int = 32) -> dict[str, Any]:
    """The whole contender: two databases, two hubs, reads and ingest on each; a result document."""
    databases = Postgres(postgres)
    servers = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-reads-") as tmp:
        workdir = Path(tmp)
        try:
            urls = {"small": databases.create("reads_small"), "big": databases.create("reads_big")}
            hubs = {}
            config = '[hub]\nlog_level = "WARNING"\n\n[worker]\nenabled = false\n'
            for name, url in urls.items():
                hubs[name] = hub_server(f"reads-{name}", "uvicorn", workdir, config,
                                        {"DATABASE_URL": url, "SENTRY_CLIENT_SECRET": SECRET}).start()
                servers.append(hubs[name])
                hubs[name].wait_ready()
            print(f"reads at scale: preloading {issues:,} issues and {deliveries:,} deliveries ...", file=sys.stderr,
                  flush=True)
            preload_seconds = preload(urls["big"], issues, deliveries)
            preload(urls["small"], 100, 200)
            print(f"reads at scale: preloaded in {preload_seconds:.0f} s", file=sys.stderr, flush=True)
            tokens = {name: _token(url, workdir, hubs[name]) for name, url in urls.items()}
            for name, hub in hubs.items():  # warm each page once (plans, template compilation)
                for path in LISTS.values():
                    _get_ms(hub.port, path, tokens[name])
            samples: dict[str, dict[str, list[float]]] = {label: {"small": [], "big": []} for label in LISTS}
            for _ in range(repeats):
                for label, path in LISTS.items():
                    for name in ("small", "big"):
                        samples[label][name].append(_get_ms(hubs[name].port, path, tokens[name]))
            reads = {label: {"small_ms": round(statistics.median(values["small"]), 2),
                             "big_ms": round(statistics.median(values["big"]), 2),
                             "big_p95_ms": round(sorted(values["big"])[int(0.95 * (len(values["big"]) - 1))], 2)}
                     for label, values in samples.items()}
            for row in reads.values():
                row["ratio"] = round(row["big_ms"] / row["small_ms"], 2)
            rates: dict[str, list[float]] = {"small": [], "big": []}
            for round_ in range(ingest_rounds):
                for name in (("small", "big") if round_ % 2 == 0 else ("big", "small")):
                    rates[name].append(_ingest(hubs[name].port, f"{name}{round_}", ingest_seconds, connections))
            ingest = {name: round(statistics.mean(values), 1) for name, values in rates.items()}
            ingest["ratio"] = round(ingest["big"] / ingest["small"], 3)
        finally:
            for server in servers:
                server.stop()
            databases.drop_all()
    return {"issues": issues, "deliveries": deliveries, "preload_seconds": round(preload_seconds, 1),
            "repeats": repeats, "reads": reads, "ingest_per_second": ingest}


def table(result: dict[str, Any]) -> str:
    """The figures as a text table, with the targets (reads at most 3x, ingest at least 0.8)."""
    lines = [f"reads at scale: {result['issues']:,} issues, {result['deliveries']:,} deliveries "
             f"(preload {result['preload_seconds']:.0f} s), median of {result['repeats']}",
             f"{'list':<20} {'small ms':>9} {'big ms':>9} {'big p95':>9} {'ratio':>6}"]
    for label, row in result["reads"].items():
        flag = "" if row["ratio"] <= 3 else "  > 3x"
        lines.append(f"{label:<20} {row['small_ms']:>9.1f} {row['big_ms']:>9.1f} {row['big_p95_ms']:>9.1f} "
                     f"{row['ratio']:>6.2f}{flag}")
    ingest = result["ingest_per_second"]
    lines.append(f"ingest (creates/s): small {ingest['small']:.0f}, big {ingest['big']:.0f}, "
                 f"ratio {ingest['ratio']:.2f} (target >= 0.8)")
    return "\n".join(lines)
