"""Where a server's CPU goes under load: py-spy attached during an extra, unrecorded turn.

``python -m bench --profile DIR`` needs py-spy: ``uv run --with py-spy python -m bench --profile DIR``.
py-spy samples the running process from outside (no code change, no instrumentation), only
while a thread is on the CPU, so the shares below are shares of the server's busy CPU time.
The raw samples (``DIR/<contender>.txt``, collapsed stacks) open in speedscope.app or
flamegraph.pl; ``DIR/<contender>.summary.txt`` has the numbers this module derives from them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BUCKETS", "LAYERS", "py_spy", "record", "render", "summarize", "wait"]

#: Sampling rate (Hz): enough samples in a few seconds for shares to within a couple of percent.
RATE = 200

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::\d+)?\)$")

#: Questions asked of every sample: "is any frame of this stack doing X?" (shares may overlap).
BUCKETS: dict[str, Callable[[str, str], bool]] = {
    "hub.ingest.handle_webhook (the whole delivery)": lambda f, p: f == "handle_webhook",
    "SQLAlchemy Core (all of it, driver included)": lambda f, p: p.startswith("sqlalchemy/"),
    "  of which statement compilation": lambda f, p: p == "sqlalchemy/sql/compiler.py",
    "  of which parameter and result processing": lambda f, p: p in (
        "sqlalchemy/engine/default.py", "sqlalchemy/engine/cursor.py", "sqlalchemy/engine/result.py",
        "sqlalchemy/sql/sqltypes.py", "sqlalchemy/sql/type_api.py"),
    "  of which connection pool checkout/checkin": lambda f, p: p == "sqlalchemy/pool/base.py",
    "psycopg (driver)": lambda f, p: p.startswith(("psycopg/", "psycopg_pool/")),
    "aiosqlite / sqlite3 (driver)": lambda f, p: p.startswith("aiosqlite/"),
    "logging (records, formatting, writes)": lambda f, p: p.startswith("logging/"),
    "hub.redact (secret masking filter)": lambda f, p: p == "hub/redact.py",
    "json (stdlib encode/decode)": lambda f, p: p.startswith("json/"),
    "pluggy hook calls (plugin code included)": lambda f, p: p.startswith("pluggy/"),
    "hub_sentry plugin code": lambda f, p: p.startswith("hub_sentry/"),
    "Litestar (routing, request, response)": lambda f, p: p.startswith("litestar/"),
    "msgspec (response encoding)": lambda f, p: p.startswith("msgspec/"),
    "HTTP server (uvicorn, h11, httptools)": lambda f, p: p.startswith(("uvicorn/protocols", "h11/")),
    "asyncio machinery (loop, tasks, transports)": lambda f, p: p.startswith("asyncio/") and f not in (
        "Handle._run", "BaseEventLoop._run_once", "BaseEventLoop.run_forever", "run", "Runner.run",
        "BaseEventLoop.run_until_complete"),
    "uuid4 (ids)": lambda f, p: p == "uuid.py",
    "hub.store.storable (NUL scrubbing)": lambda f, p: f == "storable",
}


#: Layers, innermost first: a sample belongs to the first layer found walking its stack from the
#: top (the running function) down, so stdlib helpers count for the layer that called them and
#: the shares add up to 100%. (Stacks inside SQLAlchemy's greenlets do not show their async
#: callers, so "which hub function" questions are answered by the buckets above, not here.)
LAYERS: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("psycopg driver", lambda f, p: p.startswith(("psycopg/", "psycopg_pool/"))),
    ("aiosqlite/sqlite3 driver", lambda f, p: p.startswith(("aiosqlite/", "sqlite3/"))),
    ("SQLAlchemy Core + asyncio adaption", lambda f, p: p.startswith("sqlalchemy/")),
    ("logging", lambda f, p: p.startswith("logging/") or p == "hub/redact.py"),
    ("json", lambda f, p: p.startswith("json/")),
    ("hub_sentry plugin", lambda f, p: p.startswith("hub_sentry/")),
    ("pluggy", lambda f, p: p.startswith("pluggy/")),
    ("hub (ingest, store, routes)", lambda f, p: p.startswith("hub/")),
    ("Litestar + msgspec", lambda f, p: p.startswith(("litestar/", "msgspec/"))),
    ("uvicorn + h11/httptools (HTTP)", lambda f, p: p.startswith(("uvicorn/", "h11/", "httptools/"))),
    ("asyncio event loop + sockets", lambda f, p: p.startswith(("asyncio/", "selectors.py"))),
)


def py_spy() -> str | None:
    """The py-spy executable of this environment or on PATH, None when absent."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, duration: float, output: Path) -> subprocess.Popen:
    """Start py-spy on ``pid`` (and its worker processes) for ``duration`` seconds, raw output.

    ``--nonblocking``: the server is not paused for each sample, which would slow it down far
    more than the sampling itself.
    """
    executable = py_spy()
    if executable is None:
        raise RuntimeError("--profile needs py-spy: uv run --with py-spy python -m bench --profile DIR")
    argv = [executable, "record", "--pid", str(pid), "--duration", str(max(1, round(duration))),
            "--rate", str(RATE), "--format", "raw", "--subprocesses", "--nonblocking", "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait(process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait for py-spy to write its file; raise with its complaint if it failed."""
    _out, err = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.strip()[-500:]}")


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for part in stack.split(";"):
        match = _FRAME.match(part)
        if match:
            frames.append((match["function"], match["file"]))
    return frames


def summarize(path: Path, top: int = 30) -> dict[str, Any]:
    """Shares of samples: per bucket, per function (inclusive, once per sample) and per leaf (self)."""
    total = 0
    buckets: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        for name, test in BUCKETS.items():
            if any(test(function, file) for function, file in frames):
                buckets[name] += count
        for name in {f"{function} ({file})" for function, file in frames}:
            inclusive[name] += count
        leaf[f"{frames[-1][0]} ({frames[-1][1]})"] += count
        layers[_layer(frames)] += count

    def shares(counter: Counter[str], limit: int | None = None, order: list[str] | None = None) -> dict[str, float]:
        items = counter.most_common(limit) if order is None else sorted(counter.items(), key=lambda kv: order.index(kv[0]))
        return {name: round(100 * count / total, 1) for name, count in items} if total else {}

    return {"samples": total, "rate_hz": RATE, "layers_pct": shares(layers, order=[*(n for n, _ in LAYERS), "other"]),
            "buckets_pct": shares(buckets, order=list(BUCKETS)), "inclusive_pct": shares(inclusive, top),
            "self_pct": shares(leaf, top)}


def _layer(frames: list[tuple[str, str]]) -> str:
    for function, file in reversed(frames):
        for name, test in LAYERS:
            if test(function, file):
                return name
    return "other"


def render(title: str, summary: dict[str, Any]) -> str:
    """The summary as text, for DIR/<contender>.summary.txt and for reading by people."""
    lines = [(f"{title}: {summary['samples']} samples at {summary['rate_hz']} Hz "
              f"({summary.get('rps_while_profiled', '?')} req/s while profiled)"), "",
             "share of the server's CPU samples by layer (innermost known layer on the stack; sums to 100%):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["layers_pct"].items()]
    lines += ["", "share of the server's CPU samples, by question (a sample may answer several):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["buckets_pct"].items()]
    lines += ["", "inclusive (function on the stack):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["inclusive_pct"].items()]
    lines += ["", "self (function on top of the stack):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["self_pct"].items()]
    return "\n".join(lines) + "\n"
