"""From a run's raw figures to what people and later runs read: summaries, the table, the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from statistics import mean
from typing import Any

from bench.runner import Contender, percentile

__all__ = ["SCHEMA_VERSION", "burst_document", "burst_table", "burst_targets", "document", "summarize", "table",
           "targets", "write"]

#: Bumped when the JSON layout changes, so comparisons across commits know what they read.
SCHEMA_VERSION = 1


def summarize(contender: Contender) -> dict[str, Any]:
    """One contender over all its rounds: mean req/s, latency percentiles of every request, errors,
    peak memory, CPU per request, and its ratio to the baseline of the same database and server."""
    rounds = contender.rounds
    latencies = sorted(contender.latencies_us)
    answered = sum(row["completed"] + row["drained"] for row in rounds)
    statuses: dict[str, int] = {}
    for row in rounds:
        for status, count in row["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    rps = [row["rps"] for row in rounds]
    summary: dict[str, Any] = {
        "contender": contender.key,
        "database": contender.target.database,
        "server": contender.target.server,
        "label": contender.label,
        "rounds": len(rounds),
        "requests": sum(row["completed"] for row in rounds),
        "rps": round(mean(rps), 1) if rps else 0.0,
        "rps_min": min(rps, default=0.0),
        "rps_max": max(rps, default=0.0),
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": percentile(latencies, 1.0),
        "errors": sum(row["errors"] for row in rounds),
        "statuses": statuses,
        "transport_errors": sum(row["transport_errors"] for row in rounds),
        "unexpected": sum(row["unexpected"] for row in rounds),
        "error_samples": [sample for row in rounds for sample in row["error_samples"]][:5],
        "peak_memory_mib": round(contender.target.peak_kib / 1024, 1),
        "server_cpu_ms_per_request": _per_request(rounds, "server_cpu_seconds", answered),
        "database_cpu_ms_per_request": _per_request(rounds, "database_cpu_seconds", answered),
        "client_cpu_share": _mean(row["client_cpu_share"] for row in rounds),
        "machine_cpu_busy": _mean(row["machine_cpu_busy"] for row in rounds),
        "postgres_new_sessions_per_round": _mean(row["postgres_new_sessions"] for row in rounds),
        "vs_baseline": None,
        "vs_baseline_per_round": [],
    }
    base = contender.baseline
    if base is not None and base.rounds:
        base_rps = mean(row["rps"] for row in base.rounds)
        summary["vs_baseline"] = round(summary["rps"] / base_rps, 3) if base_rps else None
        by_round = {row["round"]: row["rps"] for row in base.rounds}
        summary["vs_baseline_per_round"] = [round(row["rps"] / by_round[row["round"]], 3)
                                            for row in rounds if by_round.get(row["round"])]
    return summary


def _per_request(rounds: list[dict[str, Any]], key: str, answered: int) -> float | None:
    """Milliseconds of ``key`` (seconds per round) per answered request; None where not measured."""
    seconds = [row.get(key) for row in rounds]
    if not answered or any(value is None for value in seconds):
        return None
    return round(1000 * sum(seconds) / answered, 3)


def _mean(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return round(mean(present), 3) if present else None


def table(summaries: list[dict[str, Any]]) -> str:
    """The Markdown table printed at the end of a run (and pasted into docs/performance.md)."""
    lines = [("| database | server | contender | req/s | vs baseline | p50 ms | p99 ms | errors | peak MiB | "
              "server CPU ms/req | PostgreSQL CPU ms/req |"),
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in summaries:
        ratio = f"{row['vs_baseline']:.2f}" if row["vs_baseline"] is not None else "1"
        cpu = f"{row['server_cpu_ms_per_request']:.2f}" if row["server_cpu_ms_per_request"] is not None else "-"
        database = row.get("database_cpu_ms_per_request")
        database = f"{database:.2f}" if database is not None else "-"
        lines.append(f"| {row['database']} | {row['server']} | {row['label']} | {row['rps']:.0f} "
                     f"({row['rps_min']:.0f}-{row['rps_max']:.0f}) | {ratio} | {row['p50_ms'] or 0:.1f} | "
                     f"{row['p99_ms'] or 0:.1f} | {row['errors']} | {row['peak_memory_mib']:.0f} | {cpu} | {database} |")
    return "\n".join(lines)


def targets(summaries: list[dict[str, Any]]) -> list[str]:
    """Issue 7's targets against this run's figures (reported, never asserted)."""
    lines = []
    by_key = {row["contender"]: row for row in summaries}
    for row in summaries:
        if row["label"] != "hub create":
            continue
        where = f"{row['database']}/{row['server']}"
        if row["database"] == "postgresql":
            ratio = row["vs_baseline"]
            verdict = "met" if ratio is not None and ratio >= 0.6 else "NOT met"
            lines.append(f"{where}: create/baseline = {ratio} (target >= 0.6: {verdict})")
        p99 = row["p99_ms"] or 0
        lines.append(f"{where}: create p99 = {p99:.0f} ms (target well under 1 s, read as < 500 ms: "
                     f"{'met' if p99 < 500 else 'NOT met'})")
        dedupe = by_key.get(f"{row['database']}/{row['server']}/hub dedupe")
        if dedupe is not None:
            faster = dedupe["rps"] > row["rps"]
            lines.append(f"{where}: dedupe {dedupe['rps']:.0f} req/s vs create {row['rps']:.0f} req/s "
                         f"(target dedupe faster: {'met' if faster else 'NOT met'})")
    errors = sum(row["errors"] for row in summaries)
    lines.append(f"errors in all contenders: {errors} (target 0: {'met' if errors == 0 else 'NOT met'})")
    return lines


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], check=False, capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _machine(postgres_version: str | None) -> dict[str, Any]:
    memory = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gib": memory, "platform": platform.platform(),
            "python": platform.python_version(), "postgresql": postgres_version}


def _header(results: dict[str, Any], settings: dict[str, Any], postgres_version: str | None,
            **kind: str) -> dict[str, Any]:
    """What every result document starts with: schema, when, how long, which commit, which machine."""
    return {
        "schema": SCHEMA_VERSION,
        **kind,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": results["elapsed_seconds"],
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "hub", "plugins")),
        "machine": _machine(postgres_version),
        "settings": settings,
    }


def document(results: dict[str, Any], settings: dict[str, Any], postgres_version: str | None) -> dict[str, Any]:
    """The JSON document of a run: settings, machine, commit, summaries, rounds, checks, evidence."""
    summaries = [summarize(contender) for contender in results["contenders"]]
    return {
        **_header(results, settings, postgres_version),
        "summary": summaries,
        "targets": targets(summaries),
        "checks": results["checks"],
        "github": results.get("github"),
        "seeds": results.get("seeds"),
        "servers": results["targets"],
        "profile": results.get("profile"),
        "rounds": results["rounds"],
    }


def burst_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of a ``--burst`` run: time to enriched and GitHub calls, per database."""
    lines = ["| database | issues | posted in s | enriched | p50 s | p99 s | all s | GitHub calls | calls/issue | "
             "peak at once | peak a minute | hub CPU ms/issue |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        cells = [row["database"], row["issues"], f"{row['posted_seconds']:.1f}", row["enriched"],
                 *(f"{row[key]:.1f}" if row[key] is not None else "-" for key in ("p50_s", "p99_s", "all_s")),
                 row["github_calls"], f"{row['github_calls_per_issue']:.2f}", row["github_peak_concurrent"],
                 row["github_peak_per_minute"], f"{row['hub_cpu_ms_per_issue']:.1f}"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def burst_targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 19's burst target against a ``--burst`` run (reported, never asserted)."""
    from bench.burst import TARGET_SECONDS

    lines = []
    for row in rows:
        within = row["all_s"] is not None and row["all_s"] <= TARGET_SECONDS
        lines.append(f"{row['database']}: {row['enriched']}/{row['issues']} enriched, the slowest after "
                     f"{row['all_s'] if row['all_s'] is not None else '-'} s (target: all within "
                     f"{TARGET_SECONDS:.0f} s: {'met' if within else 'NOT met'}); "
                     f"{row['github_calls_per_issue']} GitHub calls per issue, at most "
                     f"{row['github_peak_concurrent']} at once (GitHub allows 100)")
    return lines


def burst_document(results: dict[str, Any], settings: dict[str, Any], postgres_version: str | None) -> dict[str, Any]:
    """The JSON document of a ``--burst`` run."""
    return {
        **_header(results, settings, postgres_version, kind="burst"),
        "burst": results["burst"],
        "targets": burst_targets(results["burst"]),
    }


def write(document_: dict[str, Any], output: Path | None) -> Path:
    """Write the JSON document; default ``bench/results/<UTC timestamp>.json`` (git-ignored)."""
    if output is None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        output = Path(__file__).resolve().parent / "results" / f"{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document_, indent=2, default=str) + "\n")
    return output
