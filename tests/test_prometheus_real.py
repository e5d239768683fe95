"""The real Prometheus (Debian's package, unmodified) scraping ``hub serve --workers 2`` with a token.

Deliveries are spread over two server processes; whichever one answers a scrape, the counter is
the sum of both (prometheus-client's multiprocess mode), and Prometheus' own query API returns it.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest

from real_binaries import RealProcess, binary, wait_until
from servers import HUB, HubServer
from support import SENTRY_SECRET, sentry_headers, sentry_issue_body
from test_metrics import samples, value

pytestmark = pytest.mark.slow


def _config(target: str, token: str) -> str:
    return f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hub
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: ['{target}']
"""


def _query(prometheus: RealProcess, expression: str) -> list:
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expression}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.fixture
def hub_and_prometheus(pg_database_url, tmp_path):
    program = binary("prometheus")
    hub = HubServer(tmp_path, {"DATABASE_URL": pg_database_url, "SENTRY_CLIENT_SECRET": SENTRY_SECRET},
                    args=("--workers", "2"))
    prometheus = RealProcess(tmp_path, "prometheus", lambda port: [
        program, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}"])
    try:
        hub.start(timeout=60)
        token = subprocess.run([HUB, "token", "create", "prometheus", "--scope", "read"], env=hub.env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()[-1]
        (tmp_path / "prometheus.yml").write_text(_config(f"127.0.0.1:{hub.port}", token))
        prometheus.start("/-/ready", timeout=60)
        yield hub, prometheus, token
    finally:
        prometheus.stop()
        hub.kill()


def test_real_prometheus_scrapes_the_summed_counters_of_two_workers(hub_and_prometheus):
    hub, prometheus, token = hub_and_prometheus
    for number in range(6):
        body = sentry_issue_body(str(7000 + number % 3))  # three issues, each delivered twice
        # A new connection each time, so the two workers share the deliveries.
        response = httpx.post(f"{hub.url}/api/sentry/webhook", content=body, headers=sentry_headers(body), timeout=10)
        assert response.status_code == 200, response.text
    scraped = []
    for _ in range(6):
        text = httpx.get(f"{hub.url}/metrics", headers={"authorization": f"Bearer {token}"}, timeout=5).text
        scraped.append(samples(text))
    for found in scraped:
        assert value(found, "hub_deliveries_total", source="sentry", outcome="created") == 3
        assert value(found, "hub_deliveries_total", source="sentry", outcome="deduplicated") == 3
    assert httpx.get(f"{hub.url}/metrics", timeout=5).status_code == 401

    def counted():
        result = _query(prometheus, 'sum(hub_deliveries_total{job="hub", source="sentry"})')
        return result and float(result[0]["value"][1]) == 6

    wait_until(counted, 30, "Prometheus to scrape six sentry deliveries")
    assert float(_query(prometheus, 'up{job="hub"}')[0]["value"][1]) == 1
    assert token not in hub.output()
