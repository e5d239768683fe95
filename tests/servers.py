"""Real ``hub serve`` processes for tests that need them (several processes, SIGKILL, SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HUB = str(Path(sys.executable).parent / "hub")
ECHO_SITE = Path(__file__).parent / "plugins" / "site"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HubServer:
    """One ``hub serve`` process on a free port, its output kept in a log file."""

    def __init__(self, workdir: Path, env: dict[str, str], config: str = "", name: str = "hub",
                 args: tuple[str, ...] = (), preexec_fn=None) -> None:
        self.workdir = workdir
        self.args = args  # more ``hub serve`` flags
        self.preexec_fn = preexec_fn  # run in the child before ``hub serve`` (e.g. set an rlimit)
        self.port = free_port()
        self.config = workdir / f"{name}.toml"
        self.config.write_text(config)
        self.log = workdir / f"{name}-{self.port}.log"
        base = {key: value for key, value in os.environ.items() if not key.startswith(("HUB_", "DATABASE_URL", "GITHUB_", "SENTRY_"))}
        self.env = {**base, "PYTHONPATH": str(ECHO_SITE), **env}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "HubServer":
        """Start the process and wait until its health check answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [HUB, "serve", "--config", str(self.config), "--port", str(self.port), *self.args],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn,
                # Its own process group: ``kill`` ends the worker processes of ``--workers N`` too
                # (a SIGKILLed supervisor cannot stop them, and they outlived the test).
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"hub did not become healthy:\n{self.output()}")

    def output(self) -> str:
        """Everything the process logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to the server and its workers: no chance to clean up."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)
