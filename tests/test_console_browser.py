"""The console in real Chromium (Debian's package, driven by Playwright), as a person uses it.

A real ``hub serve`` on a SQLite file, a signed Sentry webhook, and a person who logs in, filters,
searches, opens the issue, changes its status, comments, sees the change in the API, dry-runs and
replays the delivery, retries a failed job and logs out. XSS payloads (in the Sentry title and in
a comment) stay inert: no dialog opens and no request reaches the attacker's server. Every action
on each page is reached with the Tab key. Screenshots of each page are taken on the way; with
``HUB_CONSOLE_SCREENSHOTS=docs/console`` they replace the ones docs/console.md shows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from servers import HUB, HubServer, free_port
from support import sign

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SECRET = "browser-test-secret-0123456789"
PASSWORD = "correct horse battery staple"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SENTRY_FIXTURE = Path(__file__).parent / "fixtures" / "sentry" / "mocks-integration-platform-example" / "issue-created.json"


class Attacker:
    """An HTTP server that records every request: nothing in the console may ever reach it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    server = Attacker()
    yield server
    server.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, attacker: Attacker) -> Iterator[dict[str, Any]]:
    """A running hub with an admin account ``alice`` and an issue made by a signed Sentry webhook."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    workdir = tmp_path_factory.mktemp("console")
    database = workdir / "hub.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "SENTRY_CLIENT_SECRET": SECRET}
    base = {key: value for key, value in os.environ.items() if not key.startswith(("HUB_", "DATABASE_URL"))}
    subprocess.run([HUB, "user", "add", "alice", "--scope", "admin"], input=PASSWORD + "\n", text=True, check=True,
                   env={**base, **env}, cwd=workdir, capture_output=True, timeout=60)
    server = HubServer(workdir, env, config="[worker]\npoll_interval_seconds = 0.2\n").start()
    payload = json.loads(SENTRY_FIXTURE.read_text())
    payload["data"]["issue"]["title"] = f"<img src={attacker.url}/title.png onerror=alert(1)> checkout fails"
    body = json.dumps(payload).encode()
    answer = httpx.post(f"{server.url}/api/sentry/webhook", content=body, headers={
        "content-type": "application/json", "sentry-hook-resource": "issue",
        "sentry-hook-timestamp": str(int(time.time())), "sentry-hook-signature": sign(body, SECRET)}, timeout=10)
    assert answer.status_code == 200, answer.text
    identifier = answer.json()["issue"]["identifier"]
    # A job that failed all its attempts, as a GitHub outage leaves one.
    with sqlite3.connect(database) as connection:
        issue_id = connection.execute("SELECT id FROM chipp_issue").fetchone()[0]
        connection.execute(
            "INSERT INTO hub_job (id, kind, issue_id, source, status, attempts, run_after, last_error, created_at,"
            " updated_at) VALUES ('job-failed-1', 'enrich', ?, 'sentry', 'failed', 6, '2026-01-01 00:00:00',"
            " 'GitHub answered 502 Bad Gateway', '2026-01-01 00:00:00', '2026-01-01 00:00:00')", (issue_id,))
    try:
        yield {"server": server, "identifier": identifier, "database": database, "workdir": workdir}
    finally:
        server.kill()


@pytest.fixture(scope="module")
def browser(console: dict[str, Any]) -> Iterator[Any]:
    """A Chromium of its own (fresh profile), shared by the module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(console["workdir"] / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: HUB_CONSOLE_SCREENSHOTS (docs/console to refresh the docs), else a temporary folder."""
    target = os.environ.get("HUB_CONSOLE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _watch(page: Any, attacker: Attacker) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"dialogs": [], "attacker_requests": []}

    def on_dialog(dialog: Any) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", lambda request: request.url.startswith(attacker.url) and seen["attacker_requests"].append(request.url))
    return seen


def _shot(page: Any, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 3_000


def _login(page: Any, url: str, shots: Path | None = None) -> None:
    page.goto(f"{url}/issues")
    assert "/login" in page.url  # anonymous: sent to the login, then back
    if shots is not None:
        _shot(page, shots, "login")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/issues")


def test_a_person_triages_an_issue_from_a_webhook_end_to_end(console, browser, attacker, shots):
    url, identifier = console["server"].url, console["identifier"]
    page = browser.new_page()
    seen = _watch(page, attacker)
    _login(page, url, shots)
    _shot(page, shots, "issues")
    assert page.locator(f"a:text('{identifier}')").count() == 1

    # Filter and search, as the form sends them.
    page.select_option("select[name=status]", "closed")
    page.click("form.filters button")
    assert "status=closed" in page.url and page.get_by_text("No issue matches").is_visible()
    page.select_option("select[name=status]", "open")
    page.fill("input[name=q]", "checkout")
    page.click("form.filters button")
    assert page.locator(f"a:text('{identifier}')").count() == 1
    page.fill("input[name=q]", "nothing like this")
    page.click("form.filters button")
    assert page.get_by_text("No issue matches").is_visible()

    # Open it: the title is text, not an image.
    page.goto(f"{url}/issues?q=checkout")
    page.click(f"a:text('{identifier}')")
    page.wait_for_url(f"{url}/issues/{identifier}")
    assert "onerror=alert(1)" in page.locator("h1").inner_text()
    assert page.locator("img").count() == 0

    # Change its status and comment; the comment carries payloads of its own.
    page.select_option("select[name=status]", "closed")
    page.select_option("select[name=priority]", "P1")
    page.click("form.triage button")
    page.wait_for_url(f"{url}/issues/{identifier}")
    assert "closed" in page.locator("p.meta").first.inner_text()
    page.fill("#comment-body", f"Fixed by a rollback. <script>alert(2)</script> [more](javascript:alert(3)) "
                               f"<img src={attacker.url}/comment.png onerror=alert(4)> **done**")
    page.click("#comments button")
    page.wait_for_load_state()
    assert page.locator("#comments strong:text('done')").count() == 1
    _shot(page, shots, "issue")

    # The change is in the API (the session's cookie is the credential).
    api = page.request.get(f"{url}/api/issues/{identifier}").json()
    assert (api["status"], api["priority"]) == ("closed", "P1")
    assert api["comments"][-1]["author"] == "user:alice"
    assert [event["actor"] for event in api["events"] if event["kind"] == "close"] == ["user:alice"]

    # Dry run and replay the delivery that made it.
    page.goto(f"{url}/deliveries")
    _shot(page, shots, "deliveries")
    page.click("table.list a >> nth=0")
    page.click("button:text('Dry run')")
    assert page.locator("#dry-h").count() == 1, page.content()[:1500]
    heading = page.locator("#dry-h").inner_text()
    assert heading.startswith("Dry run: ") and heading.endswith("(nothing written)"), heading
    _shot(page, shots, "delivery")
    before = page.request.get(f"{url}/api/issues/{identifier}").json()
    page.click("button:text('Replay')")
    assert page.get_by_text("Replayed: 200").is_visible()
    after = page.request.get(f"{url}/api/issues/{identifier}").json()
    assert after["status"] == before["status"] == "closed"  # a created delivery replayed reopens nothing

    # Retry the failed job.
    page.goto(f"{url}/jobs?status=failed")
    assert page.get_by_text("GitHub answered 502 Bad Gateway").is_visible()
    _shot(page, shots, "jobs")
    page.click("button:text('Retry now')")
    page.wait_for_url(f"{url}/jobs")
    with sqlite3.connect(console["database"]) as connection:
        status, attempts = connection.execute("SELECT status, attempts FROM hub_job WHERE id = 'job-failed-1'").fetchone()
    assert status != "failed" or attempts < 6

    page.goto(url)
    assert page.locator("svg rect").count() == 24
    _shot(page, shots, "overview")

    # Log out: the pages are closed again.
    page.click("button:text('Sign out')")
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/issues")
    assert "/login" in page.url
    assert seen == {"dialogs": [], "attacker_requests": []}
    assert attacker.hits == []
    page.close()


def _actions(page: Any) -> set[str]:
    return set(page.eval_on_selector_all(
        "a[href], button, input:not([type=hidden]), select, textarea",
        "elements => elements.filter(e => e.offsetParent !== null).map(e => e.outerHTML)"))


def _tab_through(page: Any, limit: int = 120) -> set[str]:
    reached = set()
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.outerHTML"))
    return reached


@pytest.mark.parametrize("path", ["/", "/issues", "/issues/{identifier}", "/deliveries", "/jobs"])
def test_the_keyboard_reaches_every_action(console, browser, path):
    page = browser.new_page()
    url = console["server"].url
    page.goto(f"{url}/login")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(url + path.format(identifier=console["identifier"]))
    actions = _actions(page)
    assert actions
    missing = actions - _tab_through(page)
    assert not missing, f"not reachable with Tab on {path}: {sorted(missing)[:3]}"
    page.close()
