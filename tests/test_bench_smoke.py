"""The benchmark still runs end to end: a short SQLite-only run, every contender, zero errors.

Nothing here times anything (CI machines vary too much for that); it checks that ``python -m bench``
starts its servers, loads them, writes the JSON document with the expected structure, finds
what the servers answered in their databases, and cleans up after itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"baseline", "hub create", "hub dedupe", "hub create, GitHub +1 s"}


def run_bench(tmp_path: Path, *flags: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m bench FLAGS --output ...`` in a temporary folder of its own (other benchmark runs
    on the machine leave theirs meanwhile); the finished process and its JSON document. Asserts it
    succeeded and left no run directory behind."""
    output = tmp_path / "bench.json"
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    done = subprocess.run([sys.executable, "-m", "bench", *flags, "--output", str(output)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "TMPDIR": str(private_tmp)})
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    # Its temporary directory (SQLite files, logs) is gone.
    assert list(private_tmp.glob("hub-bench-*")) == []
    return done, json.loads(output.read_text())


def test_bench_smoke_run_on_sqlite(tmp_path: Path) -> None:
    done, document = run_bench(tmp_path, "--only", "sqlite", "--duration", "1", "--rounds", "1", "--connections", "4",
                               "--warmup", "0.3", "--dedupe-issues", "20", "--github-delay", "1")
    assert document["schema"] == 1
    assert document["settings"]["only"] == "sqlite"
    summary = {row["label"]: row for row in document["summary"]}
    assert set(summary) == LABELS
    for row in summary.values():
        assert row["database"] == "sqlite" and row["server"] == "uvicorn"
        assert row["errors"] == 0, row["error_samples"]
        assert row["requests"] > 0 and row["rps"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["peak_memory_mib"] > 0
        assert row["server_cpu_ms_per_request"] > 0
        assert row["database_cpu_ms_per_request"] is None  # SQLite works inside the server process
    assert summary["baseline"]["vs_baseline"] is None
    assert summary["hub create"]["vs_baseline"] > 0
    assert len(document["rounds"]) == len(LABELS)
    assert all(check["ok"] for check in document["checks"]), document["checks"]
    assert document["github"]["jobs"]["queued"] + document["github"]["jobs"]["running"] > 0
    assert "| hub create |" in done.stdout


def test_postgres_cpu_counts_the_local_servers_work(postgres_url: str) -> None:
    """The bench's "PostgreSQL CPU ms/req": the local server's processes' CPU grows with its work."""
    import psycopg

    from bench.servers import postgres_cpu_seconds

    before = postgres_cpu_seconds()
    assert before is not None and before > 0
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        connection.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
        # Read while the backend lives: an exited process's time leaves /proc with it.
        assert postgres_cpu_seconds() - before > 0.05


@pytest.mark.slow
def test_bench_burst_runs_end_to_end_on_sqlite(tmp_path: Path) -> None:
    """``--burst``: every issue of a small burst enriched, its times and GitHub's calls reported."""
    done, document = run_bench(tmp_path, "--only", "sqlite", "--burst", "8", "--github-delay", "0.05",
                               "--connections", "4", "--burst-timeout", "60")
    assert document["kind"] == "burst" and document["settings"]["burst"] == 8
    [row] = document["burst"]
    assert row["database"] == "sqlite" and row["post_errors"] == 0
    assert row["enriched"] == 8 and row["jobs"] == {"done": 8}
    assert 0 < row["p50_s"] <= row["p99_s"] <= row["all_s"]
    # The fake GitHub lists five commits: each fetched once, however the jobs overlapped.
    assert row["github_by_route"]["/repos/bench/bench/commits/N"] == 5
    assert row["github_calls"] == sum(row["github_by_route"].values()) > 0
    assert "| sqlite | 8 |" in done.stdout and "enriched, the slowest after" in done.stdout


@pytest.mark.slow
def test_reads_at_scale_runs_end_to_end_on_a_small_preload(tmp_path: Path, postgres_url: str) -> None:
    """``--reads-at-scale`` with a tiny preload: its SQL fills a migrated database, every list answers
    200 on both hubs, ingest runs without an error, the JSON has every list."""
    from bench.reads import LISTS

    _done, result = run_bench(tmp_path, "--reads-at-scale", "--issues", "300", "--deliveries", "600", "--read-repeats",
                              "1", "--rounds", "1", "--duration", "0.5", "--connections", "4",
                              "--postgres", postgres_url.replace("+psycopg", ""), timeout=180)
    assert set(result["reads"]) == set(LISTS)
    assert all(row["big_ms"] > 0 and row["small_ms"] > 0 for row in result["reads"].values())
    assert result["ingest_per_second"]["big"] > 0 and result["ingest_per_second"]["small"] > 0
