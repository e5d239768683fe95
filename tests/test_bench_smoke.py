"""A one-second run of the benchmark, so it does not rot. It times nothing: it checks the run works."""

from __future__ import annotations

import json

from bench.__main__ import main


def test_bench_runs_end_to_end_on_sqlite(tmp_path):
    output = tmp_path / "results.json"
    results = main(["--duration", "1", "--rounds", "1", "--only", "sqlite", "--connections", "4",
                    "--github-delay", "0", "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(results))
    rows = {row["contender"]: row for row in results["summary"]}
    assert set(rows) == {"baseline", "hub create", "hub dedupe"}
    for row in rows.values():
        assert row["database"] == "sqlite"
        assert row["errors"] == 0
        assert row["rps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
        assert row["peak_mib"] and row["peak_mib"] > 0
    assert rows["baseline"]["ratio"] == 1.0
    assert len(results["rounds"]) == 3
