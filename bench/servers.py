"""Starting and stopping the processes a benchmark run needs, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's hub, database or credential settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "DATABASE_URL", "GITHUB_", "SENTRY_"))}
    return {**base, **extra}


class Process:
    """One server process; its output goes to a log file in the run's directory."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path, health: str | None) -> None:
        self.name = name
        self.port = free_port()
        self.argv = [part.replace("{port}", str(self.port)) for part in argv]
        self.env = env
        self.log = workdir / f"{name}.log"
        self.health = health
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Process":
        """Start and wait for the health path to answer 200 (or for the port to accept)."""
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if self.health is None:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return self
                if httpx.get(self.url + self.health, timeout=1).status_code == 200:
                    return self
            except (OSError, httpx.TransportError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up: {self.log.read_text(errors='replace')[-2000:]}")

    def peak_memory_mib(self) -> float | None:
        """VmHWM (peak resident memory) of the process, in MiB, while it runs."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def hub_server(name: str, workdir: Path, database_url: str, secret: str, config: str = "", **env: str) -> Process:
    """``hub serve`` with its own config file and database."""
    path = workdir / f"{name}.toml"
    path.write_text('[hub]\nlog_level = "WARNING"\n' + config)
    hub = str(Path(sys.executable).parent / "hub")
    return Process(name, [hub, "serve", "--config", str(path), "--port", "{port}"],
                   clean_env(DATABASE_URL=database_url, SENTRY_CLIENT_SECRET=secret, **env), workdir, "/api/health")


def baseline_server(name: str, workdir: Path, secret: str, **env: str) -> Process:
    """The raw baseline app under uvicorn, like the hub."""
    argv = [sys.executable, "-m", "uvicorn", "bench.baseline:create_app", "--factory", "--port", "{port}",
            "--log-level", "warning", "--no-access-log"]
    return Process(name, argv, clean_env(BENCH_SECRET=secret, **env), workdir, "/")


def fake_github(workdir: Path, delay: float) -> Process:
    """The slow GitHub."""
    return Process("fake-github", [sys.executable, "-m", "bench.fake_github", "--port", "{port}", "--delay", str(delay)],
                   clean_env(), workdir, None)
