"""Real Prometheus and Alertmanager processes from Debian's packages, for the slow tests.

Each is started on a port the OS gave, waited for with a bounded loop, and stopped by its PID.
A test that needs one is skipped when the binary is missing (``.ci/run`` installs them), and
fails under CI=true instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest

from servers import free_port

__all__ = ["RealProcess", "binary", "wait_until"]


def binary(*names: str) -> str:
    """The path of the first of ``names`` on PATH (or in /usr/bin); skip (fail on CI) when none is."""
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    message = f"{' or '.join(names)} is not installed (apt-get install {names[0]})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    """Call ``check`` until it returns something truthy, at most ``timeout`` seconds; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class RealProcess:
    """One program on a free port, its output in a log file, stopped by its PID."""

    def __init__(self, workdir: Path, name: str, argv: Callable[[int], list[str]]) -> None:
        self.port = free_port()
        self.log = workdir / f"{name}-{self.port}.log"
        self.name = name
        self.argv = argv(self.port)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the program."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout: float = 30) -> "RealProcess":
        """Start it and wait until ``ready_path`` answers 200."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                return httpx.get(self.url + ready_path, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout, f"{self.name} to answer {ready_path}")
        return self

    def output(self) -> str:
        """What the program logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
