"""The ``hub`` command as an operator meets it: real processes, real files, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

HUB = str(Path(sys.executable).parent / "hub")
ECHO_SITE = Path(__file__).parent / "plugins" / "site"


def run_hub(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("HUB_", "DATABASE_URL", "GITHUB_", "SENTRY_"))}
    return subprocess.run([HUB, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("hub: ") and text in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path):
    result = run_hub("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "db", "plugins", "replay"):
        assert command in result.stdout


def test_plugins_lists_builtin_plugins_with_versions_and_hooks(tmp_path):
    result = run_hub("plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sentry  hub-sentry 0.1.0" in result.stdout
    assert "github  hub-github 0.1.0" in result.stdout
    assert "hooks: " in result.stdout


def test_plugins_honours_disabled(tmp_path):
    (tmp_path / "config.toml").write_text('[plugins]\ndisabled = ["github"]\n')
    result = run_hub("plugins", cwd=tmp_path)
    assert "sentry" in result.stdout and "github" not in result.stdout


def test_serve_with_missing_config_is_one_line(tmp_path):
    assert_one_line_error(run_hub("serve", "--config", "nope.toml", cwd=tmp_path), "nope.toml does not exist")


def test_serve_with_bad_config_is_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("[hub]\nport = 'x'\n")
    assert_one_line_error(run_hub("serve", cwd=tmp_path), "[hub] port")
    (tmp_path / "other.toml").write_text("[hub\n")
    assert_one_line_error(run_hub("serve", cwd=tmp_path, env={"HUB_CONFIG": "other.toml"}), "invalid TOML")


def test_serve_with_unreachable_database_is_one_line(tmp_path):
    started = time.monotonic()
    result = run_hub("serve", cwd=tmp_path, env={"DATABASE_URL": "postgresql://hub:pw@127.0.0.1:1/hub"})
    assert_one_line_error(result, "cannot reach the database postgresql://hub:***@127.0.0.1:1/hub")
    assert "pw@" not in result.stderr
    assert time.monotonic() - started < 30


def test_serve_with_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub("serve", "--port", str(port), cwd=tmp_path)
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is already in use")


def test_db_upgrade_creates_the_schema(tmp_path):
    result = run_hub("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(tmp_path / "x.db").execute("select name from sqlite_master")}
    assert {"chipp_issue", "chipp_external_issue", "hub_job"} <= tables


def test_serve_starts_on_a_bare_directory_and_stops_on_sigterm(tmp_path):
    port = free_port()
    process = subprocess.Popen([HUB, "serve", "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "DATABASE_URL", "GITHUB_", "SENTRY_"))})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}  # public health: status only (detail needs a token)
        assert (tmp_path / "hub.db").exists()  # the embedded database, created and migrated on first start
        assert httpx.get(f"http://127.0.0.1:{port}/api/sentry/webhook").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_replay_pushes_a_saved_payload_through_the_pipeline(tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"id": "r1", "action": "open", "title": "Replayed", "files": ["a.py"]}))
    env = {"PYTHONPATH": str(ECHO_SITE), "DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    result = run_hub("replay", str(payload), "--source", "echo", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == 200 and answer["body"]["issue"]["identifier"] == "CHIPP-1"
    assert "ran 1 job(s)" in result.stderr
    description = sqlite3.connect(tmp_path / "r.db").execute("select description from chipp_issue").fetchone()[0]
    assert "## Echo" in description and "- `a.py`" in description
    again = run_hub("replay", str(payload), "--source", "echo", cwd=tmp_path, env=env)
    assert json.loads(again.stdout)["body"]["deduplicated"] is True
    unknown = run_hub("replay", str(payload), "--source", "nope", cwd=tmp_path, env=env)
    assert_one_line_error(unknown, "no plugin serves the source 'nope'")


def test_replay_dry_run_says_what_it_would_do_and_writes_nothing(tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"id": "d1", "action": "open", "title": "Would be made"}))
    env = {"PYTHONPATH": str(ECHO_SITE), "DATABASE_URL": f"sqlite:///{tmp_path}/d.db"}
    dry = run_hub("replay", str(payload), "--source", "echo", "--dry-run", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    result = json.loads(dry.stdout)
    assert (result["outcome"], result["written"]) == ("created", False)
    assert result["issue"]["title"].endswith("Would be made")

    def counts() -> list[int]:
        with sqlite3.connect(tmp_path / "d.db") as connection:
            return [connection.execute(f"select count(*) from {table}").fetchone()[0]
                    for table in ("chipp_issue", "hub_delivery", "hub_job", "chipp_external_issue")]

    assert counts() == [0, 0, 0, 0]
    assert run_hub("replay", str(payload), "--source", "echo", cwd=tmp_path, env=env).returncode == 0
    written = counts()
    again = json.loads(run_hub("replay", str(payload), "--source", "echo", "--dry-run", cwd=tmp_path, env=env).stdout)
    assert (again["outcome"], again["issue"]["identifier"]) == ("deduplicated", "CHIPP-1")
    assert counts() == written
    skipped = tmp_path / "skipped.json"
    skipped.write_text(json.dumps({"id": "d1", "action": "dance"}))
    result = json.loads(run_hub("replay", str(skipped), "--source", "echo", "--dry-run", cwd=tmp_path, env=env).stdout)
    assert (result["outcome"], result["reason"]) == ("skipped", "action=dance is not handled")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    rejected = run_hub("replay", str(bad), "--source", "echo", "--dry-run", cwd=tmp_path, env=env)
    assert rejected.returncode == 1 and json.loads(rejected.stdout)["outcome"] == "rejected"


def test_a_bad_database_url_is_one_line(tmp_path):
    cases = {"mysql://hub:pw@db.internal/hub": "unsupported database 'mysql'",
             "postgresql://[::1": "cannot be parsed",
             "postgresql://hub@db:notaport/hub": "cannot be parsed",
             "redis://cache": "unsupported database 'redis'"}
    for url, reason in cases.items():
        result = run_hub("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
        assert_one_line_error(result, reason)
        assert "pw" not in result.stderr
    # serve checks the URL the same way, before anything else touches the database
    assert_one_line_error(run_hub("serve", cwd=tmp_path, env={"DATABASE_URL": "postgresql://[::1"}), "cannot be parsed")


def test_jobs_list_and_retry(tmp_path, database_url):
    """A job that failed for good is listed, and queued again by ``hub jobs retry --failed``."""
    config = tmp_path / "hub.toml"
    config.write_text('[echo]\nenrich = "fail"\n[worker]\nmax_attempts = 1\n')
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"id": "j1", "action": "open", "title": "Fails to enrich"}))
    env = {"PYTHONPATH": str(ECHO_SITE), "DATABASE_URL": database_url}
    assert run_hub("replay", str(payload), "--source", "echo", "--config", str(config), cwd=tmp_path,
                   env=env).returncode == 0
    failed = run_hub("jobs", "list", "--status", "failed", "--config", str(config), cwd=tmp_path, env=env)
    assert failed.returncode == 0, failed.stderr
    [line] = failed.stdout.splitlines()
    assert " failed " in line and "attempts=1" in line and "RuntimeError: echo enrichment failed" in line
    job_id = line.split()[0]
    assert run_hub("jobs", "list", "--status", "queued", "--config", str(config), cwd=tmp_path,
                   env=env).stdout == "no queued jobs\n"
    retried = run_hub("jobs", "retry", "--failed", "--config", str(config), cwd=tmp_path, env=env)
    assert retried.returncode == 0 and retried.stdout.startswith("queued 1 job(s) again"), retried.stderr
    queued = run_hub("jobs", "list", "--status", "queued", "--config", str(config), cwd=tmp_path, env=env).stdout
    assert queued.startswith(job_id) and "attempts=0" in queued
    again = run_hub("jobs", "retry", job_id, "--config", str(config), cwd=tmp_path, env=env)
    assert again.stdout.startswith("queued 1 job(s) again")
    assert_one_line_error(run_hub("jobs", "retry", "--config", str(config), cwd=tmp_path, env=env),
                          "say which jobs")


def test_a_transport_limit_that_is_not_positive_is_one_line(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}
    assert_one_line_error(run_hub("serve", "--max-connections", "0", "--port", str(free_port()), cwd=tmp_path, env=env),
                          "--max-connections must be positive, got 0")
