"""examples/hub-example-uptime, installed through its entry point as pip would (a dist-info on
sys.path), passes the conformance kit (hub.testing); and the kit fails a plugin that does not."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from hub.plugins import build_plugin_manager
from hub.testing import SourceConformance, hub_test_client

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hub-example-uptime"
SECRET = "uptime-example-secret-0123"


@pytest.fixture
def uptime_installed(tmp_path_factory, monkeypatch):
    """A site directory with the example's dist-info (its entry point) and its package."""
    site = tmp_path_factory.mktemp("site")
    info = site / "hub_example_uptime-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-example-uptime\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[hub]\nuptime = hub_example_uptime.plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE))


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"content-type": "application/json",
            "x-uptime-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "x-uptime-delivery": hashlib.sha256(body).hexdigest()[:16]}


DOWN = json.dumps({"monitor": "api", "status": "down", "url": "https://api.example.com/health",
                   "checked_at": "2026-12-01T10:00:00Z"}).encode()


@pytest.mark.usefixtures("uptime_installed")
class TestUptimeExampleConformance(SourceConformance):
    source = "uptime"
    env = {"UPTIME_SECRET": SECRET}

    def delivery(self):
        return _signed(DOWN), DOWN

    def skipped_delivery(self):
        body = json.dumps({"monitor": "api", "status": "paused"}).encode()
        return _signed(body), body

    def forged(self, headers, body):
        return {**headers, "x-uptime-signature": "0" * 64}


def test_the_example_is_loaded_from_its_entry_point(uptime_installed):
    pm = build_plugin_manager()
    assert "uptime" in {name for name, _plugin in pm.list_name_plugin()}


def test_the_example_opens_and_closes(uptime_installed, tmp_path):
    up = json.dumps({"monitor": "api", "status": "up", "checked_at": "2026-12-01T10:05:00Z"}).encode()
    with hub_test_client(tmp_path, {"UPTIME_SECRET": SECRET}) as client:
        created = client.post("/api/uptime/webhook", content=DOWN, headers=_signed(DOWN)).json()
        assert created["issue"]["identifier"] == "CHIPP-1"
        closed = client.post("/api/uptime/webhook", content=up, headers=_signed(up)).json()
        assert [change["kind"] for change in closed["changes"]] == ["close", "comment"]


def test_the_kit_fails_a_plugin_that_takes_forged_deliveries(uptime_installed, tmp_path):
    # Without UPTIME_SECRET the example checks nothing: the kit must say so.
    lax = TestUptimeExampleConformance()
    lax.env = {}
    with hub_test_client(tmp_path, {}) as client:
        with pytest.raises(AssertionError, match="CHIPP-1"):  # accepted, and it made an issue
            lax.test_conformance_bad_signature_is_refused(client)


def test_the_kit_fails_an_undocumented_hook(uptime_installed, monkeypatch):
    import hub_example_uptime.plugin as example

    monkeypatch.setattr(example.build_issue, "__doc__", None)
    with pytest.raises(AssertionError, match="build_issue"):
        TestUptimeExampleConformance().test_conformance_hooks_are_documented()


def test_hub_testing_is_a_pytest_plugin_with_its_fixture(uptime_installed, hub_app, pytestconfig):
    # Loaded through its pytest11 entry point: no conftest here imports it.
    assert pytestconfig.pluginmanager.hasplugin("hub")
    with hub_app(env={"UPTIME_SECRET": SECRET}) as client:
        assert client.get("/api/uptime/webhook").json()["status"] == "ok"
        refused = client.post("/api/uptime/webhook", content=DOWN, headers={**_signed(DOWN), "x-uptime-signature": "0"})
        assert refused.status_code == 401
