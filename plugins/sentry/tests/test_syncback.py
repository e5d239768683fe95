"""Which address the link in Sentry uses, and when there is none: the host's public base decides."""

from __future__ import annotations

import logging

import pytest

from hub.config import build_settings
from hub_sentry import plugin, syncback
from hub_sentry.settings import CONFIG_SECTION

from sentry_api_fake import ORG, TOKEN

ENV = {"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}


@pytest.mark.parametrize("raw, listening, linked", [
    ({"hub": {"public_url": "https://hub.example.com/"}}, None, "https://hub.example.com/issues/CHIPP-5"),
    # [auth] public_url is its older name: the host's order, not one of the plugin's own.
    ({"auth": {"public_url": "https://old.example.com"}}, None, "https://old.example.com/issues/CHIPP-5"),
    ({"hub": {"public_url": "https://new.example.com"}, "auth": {"public_url": "https://old.example.com"}}, None,
     "https://new.example.com/issues/CHIPP-5"),
    # Where `hub serve` listens, when that is an address others reach.
    ({"hub": {"host": "10.1.2.3"}}, None, "http://10.1.2.3:8000/issues/CHIPP-5"),
    ({}, "http://hub.lan:8000", "http://hub.lan:8000/issues/CHIPP-5"),
    # This machine's own address, as it is when nothing says otherwise: no link.
    ({}, None, None),
    ({}, "http://127.0.0.1:8000", None),
    ({"hub": {"host": "0.0.0.0"}}, None, None),
    ({}, "http://[::1]:8000", None),
    ({"hub": {"public_url": "http://localhost:8000"}}, None, None),
])
def test_the_link_goes_to_the_hosts_public_base_unless_it_is_this_machine(monkeypatch, caplog, raw, listening,
                                                                          linked):
    if listening is None:
        monkeypatch.delenv("HUB_LISTEN_URL", raising=False)
    else:
        monkeypatch.setenv("HUB_LISTEN_URL", listening)
    config = build_settings(raw, [CONFIG_SECTION], env=ENV)
    assert syncback.enabled(config) is (linked is not None)
    assert syncback.needed_scopes(config) == (["event:read", "event:write"] if linked else ["event:read"])
    if linked:
        assert config.issue_url("CHIPP-5") == linked  # what _ensure_link files in Sentry
        assert syncback.links_unreachable(config) is None
    else:
        with caplog.at_level(logging.INFO, logger="hub.sentry"):
            plugin.check_config(config)
        assert "[Sentry sync] Hub issues are not linked in Sentry: the hub's address" in caplog.text
        assert "set [hub] public_url" in caplog.text


def test_nothing_is_said_about_links_not_wanted(monkeypatch, caplog):
    monkeypatch.delenv("HUB_LISTEN_URL", raising=False)
    for raw, env in (({"sentry": {"link_issues": False}}, ENV), ({}, {})):
        with caplog.at_level(logging.INFO, logger="hub.sentry"):
            plugin.check_config(build_settings(raw, [CONFIG_SECTION], env=env))
        assert syncback.links_unreachable(build_settings(raw, [CONFIG_SECTION], env=env)) is None
    assert "not linked in Sentry" not in caplog.text
