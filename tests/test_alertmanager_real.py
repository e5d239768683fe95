"""The real Alertmanager (Debian's prometheus-alertmanager, unmodified) delivering to a running hub.

Alerts are posted to Alertmanager's own API (``/api/v2/alerts``); its webhook receiver, with a
bearer token in ``http_config``, points at a real ``hub serve``. The hub must create one issue
per alert, deduplicate Alertmanager's repeat notifications, close the issue when the alert
ends, and reopen it when the alert fires again.
"""

from __future__ import annotations

import secrets
import subprocess
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa

from real_binaries import RealProcess, binary, wait_until
from servers import HUB, HubServer

pytestmark = pytest.mark.slow

ALERT = {"labels": {"alertname": "HubTestDiskFull", "severity": "critical", "instance": "db-1:9100"},
         "annotations": {"summary": "Disk almost full on db-1", "description": "Only 3% left on /var"},
         "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk_free"}


def _config(hub_url: str, token: str, group_by: str) -> str:
    # Short intervals so the repeat and the resolved notification come within the test's waits.
    return f"""
route:
  receiver: hub
  group_by: {group_by}
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: hub
    webhook_configs:
      - url: {hub_url}/api/alertmanager/webhook
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def _rows(database_url: str, sql: str) -> list[tuple]:
    url = database_url.replace("+aiosqlite", "").replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _post_alert(alertmanager: RealProcess, **times: str) -> None:
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=[{**ALERT, **times}], timeout=5)
    assert response.status_code == 200, response.text


@pytest.fixture
def group_by() -> str:
    """The route's grouping: ['...'] makes every alert its own notification."""
    return "['...']"


@pytest.fixture
def hub_and_alertmanager(database_url, tmp_path, group_by):
    program = binary("prometheus-alertmanager", "alertmanager")
    token = secrets.token_urlsafe(24)
    hub = HubServer(tmp_path, {"DATABASE_URL": database_url, "ALERTMANAGER_TOKEN": token})
    alertmanager = RealProcess(tmp_path, "alertmanager", lambda port: [
        program, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"])
    try:
        hub.start()
        (tmp_path / "alertmanager.yml").write_text(_config(hub.url, token, group_by))
        alertmanager.start("/-/ready")
        read = subprocess.run([HUB, "token", "create", "reader", "--scope", "read"], env=hub.env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()[-1]
        yield hub, alertmanager, {"authorization": f"Bearer {read}"}, token
    finally:
        alertmanager.stop()
        hub.kill()


def test_real_alertmanager_creates_dedupes_resolves_and_reopens(hub_and_alertmanager, database_url):
    hub, alertmanager, read, token = hub_and_alertmanager
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    _post_alert(alertmanager, startsAt=started.isoformat())

    def issues():
        found = httpx.get(f"{hub.url}/api/issues?source=alertmanager", headers=read, timeout=5).json()
        return found["items"] if isinstance(found, dict) else found

    created = wait_until(issues, 30, "the hub to create the issue")
    assert len(created) == 1
    issue = created[0]
    assert issue["title"] == "[HubTestDiskFull] Disk almost full on db-1"
    assert issue["priority"] == "P1" and issue["status"] == "open"
    assert "Only 3% left on /var" in issue["description"] and "silences/new?filter=" in issue["description"]

    # Alertmanager repeats the firing notification every repeat_interval: the hub deduplicates.
    wait_until(lambda: _rows(database_url, "SELECT count(*) FROM hub_delivery WHERE source = 'alertmanager' "
                                           "AND outcome = 'deduplicated'")[0][0] >= 1, 30, "a repeat notification")
    assert len(issues()) == 1

    # The alert ends: Alertmanager sends resolved, the issue closes with a comment.
    _post_alert(alertmanager, startsAt=started.isoformat(), endsAt=datetime.now(timezone.utc).isoformat())

    def one(status: str):
        found = httpx.get(f"{hub.url}/api/issues/{issue['identifier']}", headers=read, timeout=5).json()
        return found if found["status"] == status else None

    closed = wait_until(lambda: one("closed"), 30, "the resolved notification to close the issue")
    assert any("Resolved in Alertmanager" in comment["body"] for comment in closed["comments"])

    # It fires again (a new start): the same issue reopens, with a comment.
    _post_alert(alertmanager, startsAt=datetime.now(timezone.utc).isoformat())
    reopened = wait_until(lambda: one("open"), 30, "the new firing to reopen the issue")
    assert any("Firing again" in comment["body"] for comment in reopened["comments"])
    assert len(issues()) == 1
    # Every delivery carried the bearer token; none was refused, and the token was never logged.
    assert _rows(database_url, "SELECT count(*) FROM hub_delivery WHERE source = 'alertmanager' "
                               "AND outcome = 'unauthorized'")[0][0] == 0
    assert token not in hub.output()


@pytest.mark.parametrize("group_by", ["['alertname']"])
def test_real_alertmanager_grouped_alerts_make_one_issue_each(hub_and_alertmanager, database_url):
    """Grouped by alertname (a common route): one notification carries both alerts."""
    hub, alertmanager, read, _token = hub_and_alertmanager
    second = {**ALERT, "labels": {**ALERT["labels"], "instance": "db-2:9100"}}
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    response = httpx.post(f"{alertmanager.url}/api/v2/alerts", timeout=5,
                          json=[{**ALERT, "startsAt": started.isoformat()}, {**second, "startsAt": started.isoformat()}])
    assert response.status_code == 200, response.text

    def issues():
        found = httpx.get(f"{hub.url}/api/issues?source=alertmanager", headers=read, timeout=5).json()
        return found["items"] if isinstance(found, dict) else found

    created = wait_until(lambda: len(issues()) == 2 and issues(), 30, "two issues from one grouped notification")
    assert {issue["title"] for issue in created} == {"[HubTestDiskFull] Disk almost full on db-1"}
    assert _rows(database_url, "SELECT count(*) FROM hub_delivery WHERE source = 'alertmanager' "
                               "AND outcome = 'created'")[0][0] == 2
    # Both came in one notification, split by the plugin (the delivery counter says so).
    metrics = httpx.get(f"{hub.url}/metrics", headers=read, timeout=5).text
    assert 'hub_deliveries_total{outcome="split",source="alertmanager"} 1.0' in metrics
    ended = datetime.now(timezone.utc).isoformat()
    httpx.post(f"{alertmanager.url}/api/v2/alerts", timeout=5,
               json=[{**ALERT, "startsAt": started.isoformat(), "endsAt": ended},
                     {**second, "startsAt": started.isoformat(), "endsAt": ended}]).raise_for_status()
    wait_until(lambda: all(issue["status"] == "closed" for issue in issues()), 30, "both issues to close")
