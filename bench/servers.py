"""Server processes of a run: the command lines per ASGI server, start, readiness, measures, stop.

Every process is started in its own session (process group), so stopping it also stops the
workers it forked (granian always forks one), and a Ctrl-C in the terminal reaches the runner
only: the runner then stops everything itself, in order.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ROOT",
    "SERVERS",
    "ServerProcess",
    "baseline_server",
    "clean_env",
    "fake_github",
    "free_port",
    "hub_server",
    "machine_cpu",
    "postgres_cpu_seconds",
    "missing_server_modules",
    "project_python",
]

#: The directory holding the ``bench`` package: children import ``bench.*`` from here.
ROOT = Path(__file__).resolve().parents[1]

#: ASGI servers a run can compare, and the modules each needs beyond the project's own.
SERVERS = {
    # What ``hub serve`` runs: uvicorn with its defaults, which pick uvloop and httptools (the
    # project depends on both).
    "uvicorn": (),
    # uvicorn on its pure-Python parts (asyncio loop, h11), for comparison.
    "uvicorn-h11": (),
    # granian (Rust HTTP, the app on an asyncio loop): ``uv run --with granian ...``.
    "granian": ("granian",),
}

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment minus hub, database and credential settings, plus ``extra``.

    A developer's own DATABASE_URL or GITHUB_TOKEN must never reach a benchmark server.
    """
    prefixes = ("HUB_", "DATABASE_URL", "GITHUB_", "SENTRY_", "BENCH_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **extra}


def missing_server_modules(server: str) -> list[str]:
    """The modules ``server`` needs that this environment lacks (empty: it can run)."""
    from importlib.util import find_spec

    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r} (known: {', '.join(SERVERS)})")
    return [module for module in SERVERS[server] if find_spec(module) is None]


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _cpu_ticks(pid: int | str) -> tuple[str, int] | None:
    """A process's name and user plus system CPU ticks, from /proc/<pid>/stat; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
        name, _, rest = text.partition(" (")[2].rpartition(") ")
        fields = rest.split()
        return name, int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def postgres_cpu_seconds() -> float | None:
    """User plus system CPU time of every ``postgres`` process on this machine (server, backends,
    WAL writer, checkpointer), in seconds; None where /proc shows none (a remote server).

    Backends that exit during a window take their time with them; the contenders' pools keep
    theirs open, so the difference over a window is what the database spent on that load.
    """
    ticks, seen = 0, False
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := _cpu_ticks(entry.name)) is not None and found[0] == "postgres":
            ticks += found[1]
            seen = True
    return ticks / _TICKS if seen else None


@dataclass
class ServerProcess:
    """One server (or helper) process: its command, log file, port and readiness path."""

    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    port: int
    ready_path: str
    before: list[list[str]] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """Where its stdout and stderr go."""
        return self.workdir / f"{self.name}.log"

    def start(self) -> ServerProcess:
        """Run the preparatory commands (migrations), then start the server; do not wait for it."""
        with self.log.open("ab") as log:
            for argv in self.before:
                done = subprocess.run(argv, check=False, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=120)
                if done.returncode != 0:
                    raise RuntimeError(f"{self.name}: {' '.join(argv[1:4])} failed:\n{self.tail()}")
            self.process = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until ``GET ready_path`` answers 200; raise with the log's tail if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited before answering:\n{self.tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", self.ready_path)
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer GET {self.ready_path} within {timeout:g} s:\n{self.tail()}")

    def get(self, path: str) -> bytes:
        """``GET path`` on this server, the body (for the helpers' stats)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            return connection.getresponse().read()
        finally:
            connection.close()

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        """The process and all its descendants (server workers)."""
        if self.process is None or self.process.poll() is not None:
            return []
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as children:
                        queue.extend(int(child) for child in children.read().split())
            except OSError:
                continue
        return found

    def peak_memory_kib(self) -> int:
        """VmHWM (peak resident set) of the process plus its descendants, in KiB.

        A sum of per-process peaks: an upper bound of the tree's peak (the peaks need not
        coincide), exact for a single process.
        """
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    total += next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
            except OSError:
                continue
        return total

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process and its descendants, in seconds."""
        return sum(found[1] for pid in self.pids() if (found := _cpu_ticks(pid)) is not None) / _TICKS

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to its process group, then SIGKILL after ``grace`` seconds. Idempotent."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Forked workers may outlive their parent: the group goes in any case.
        _signal_group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def project_python() -> str:
    """The interpreter of the project's own environment (where ``hub`` is installed).

    ``uv run --with granian ...`` runs the bench in a throwaway environment layered on the
    project's; the ``uvicorn`` contenders still run on the project's interpreter, so they see
    exactly what ``uv run hub serve`` sees (no uvloop or httptools unless the project has them).
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        site_packages = Path(str(distribution("hub").locate_file("")))
    except PackageNotFoundError:
        return sys.executable
    for candidate in (site_packages.parents[2] / "bin" / "python", site_packages.parents[1] / "Scripts" / "python.exe"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def _python(*args: str, server: str = "") -> list[str]:
    return [project_python() if server in ("uvicorn", "uvicorn-h11") else sys.executable, *args]


def hub_server(name: str, server: str, workdir: Path, config: str, env: dict[str, str]) -> ServerProcess:
    """The hub under ``server``, with ``config`` written to ``<workdir>/<name>.toml``.

    uvicorn: exactly ``hub serve --config FILE --port N``, as operators run it. The others
    serve the same factory, ``hub.asgi:app_from_env``, after ``hub db upgrade``.
    """
    path = workdir / f"{name}.toml"
    path.write_text(config)
    port = free_port()
    env = clean_env(HUB_CONFIG=str(path), **env)
    before: list[list[str]] = []
    if server == "uvicorn":
        argv = _python("-m", "hub.cli", "serve", "--config", str(path), "--port", str(port), server=server)
    else:
        before = [_python("-m", "hub.cli", "db", "upgrade", "--config", str(path))]
        argv = _asgi_command(server, "hub.asgi:app_from_env", port)
    return ServerProcess(name, argv, env, workdir, port, "/api/health", before)


def baseline_server(name: str, server: str, workdir: Path, env: dict[str, str]) -> ServerProcess:
    """The baseline app (bench.baseline) under ``server``, configured by ``env``."""
    port = free_port()
    return ServerProcess(name, _asgi_command(server, "bench.baseline:app_from_env", port), clean_env(**env),
                         workdir, port, "/")


def fake_github(workdir: Path, delay: float, commits: int = 1, name: str = "fake-github") -> ServerProcess:
    """The slow fake GitHub API (bench.fake_github) with ``commits`` commits in every window."""
    port = free_port()
    argv = _python("-m", "bench.fake_github", "--port", str(port), "--delay", str(delay), "--commits", str(commits))
    return ServerProcess(name, argv, clean_env(), workdir, port, "/_bench/stats")


def _asgi_command(server: str, factory: str, port: int) -> list[str]:
    if server in ("uvicorn", "uvicorn-h11"):
        # The same settings `hub serve` gives uvicorn: one process, no access log.
        fast = ["--loop", "asyncio", "--http", "h11"] if server == "uvicorn-h11" else []
        return _python("-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
                       "--no-access-log", "--log-level", "warning", *fast, server=server)
    if server == "granian":
        return _python("-m", "granian", "--interface", "asgi", "--factory", "--http", "1", "--workers", "1",
                       "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
                       factory)
    raise ValueError(f"unknown server {server!r} (known: {', '.join(SERVERS)})")
