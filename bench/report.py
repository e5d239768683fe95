"""Summaries and the printed table: requests/s, latency, errors, memory, ratio to the baseline."""

from __future__ import annotations

from collections import defaultdict
from statistics import median

__all__ = ["summarise", "table"]


def summarise(rounds: list[dict], memory: dict[str, float | None]) -> list[dict]:
    """One row per contender: total requests over total time, median p50, worst p99, errors, ratio."""
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rounds:
        grouped[(row["database"], row["contender"])].append(row)
    rows = []
    for (database, name), runs in grouped.items():
        rps = sum(r["requests"] for r in runs) / sum(r["seconds"] for r in runs)
        rows.append({"database": database, "contender": name, "rps": round(rps, 1),
                     "p50_ms": median(r["p50_ms"] for r in runs), "p99_ms": max(r["p99_ms"] for r in runs),
                     "errors": sum(r["errors"] for r in runs), "peak_mib": memory.get(f"{database}/{name}")})
    baselines = {row["database"]: row["rps"] for row in rows if row["contender"] == "baseline"}
    for row in rows:
        base = baselines.get(row["database"])
        row["ratio"] = round(row["rps"] / base, 2) if base else None
    return rows


def table(rows: list[dict]) -> str:
    """A Markdown table of the summary (also pasted into docs/performance.md)."""
    lines = ["| database | contender | req/s | p50 ms | p99 ms | errors | peak MiB | vs baseline |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        lines.append(f"| {row['database']} | {row['contender']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
                     f"{row['p99_ms']:.1f} | {row['errors']} | {row['peak_mib'] or '-'} | {ratio} |")
    return "\n".join(lines)
