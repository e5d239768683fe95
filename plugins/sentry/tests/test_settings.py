"""register_config, register_sources, check_config."""

from __future__ import annotations

import logging

import pytest

from hub.config import ConfigError
from hub_sentry import plugin


def test_hook_register_config_reads_secrets_from_the_environment_only(settings):
    config = settings(env={"SENTRY_CLIENT_SECRET": "s3cret", "SENTRY_AUTH_TOKEN": "t0ken", "SENTRY_ORG": "acme"})
    section = config.plugin("sentry")
    assert section.client_secret.get_secret_value() == "s3cret"
    assert section.organization == "acme"
    assert "s3cret" not in repr(section)
    with pytest.raises(ConfigError, match=r"\[sentry\] client_secret is a secret"):
        settings(sentry={"client_secret": "in-the-file"})
    with pytest.raises(ConfigError, match=r"unknown key \[sentry\] projects.inclde"):
        settings(sentry={"projects": {"inclde": ["x"]}})
    with pytest.raises(ConfigError, match=r"\[sentry\] projects.priority.x"):
        settings(sentry={"projects": {"priority": {"x": "P9"}}})


def test_hook_register_sources_serves_the_seed_endpoint():
    [source] = plugin.register_sources()
    assert source.name == "sentry" and source.prefix == "[Sentry Webhook]"
    assert source.supported_events == ("issue.created (substatus=new)", "issue.unresolved (substatus=regressed)",
                                       "issue.unresolved (substatus=escalating)")


def test_hook_check_config_warns_loudly_without_a_secret(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="hub.sentry"):
        assert plugin.check_config(config=settings()) == []
    assert "signature verification is DISABLED" in caplog.text


def test_hook_exposure_problems_without_a_secret_unless_unsigned_is_allowed(settings):
    [reason] = plugin.exposure_problems(config=settings())
    assert "SENTRY_CLIENT_SECRET is not set" in reason and "allow_unsigned" in reason
    assert plugin.exposure_problems(config=settings(sentry={"allow_unsigned": True})) == []
    assert plugin.exposure_problems(config=settings(env={"SENTRY_CLIENT_SECRET": "x" * 16})) == []


def test_hook_check_config_refuses_to_start_when_a_signature_is_required(settings):
    assert plugin.check_config(config=settings(sentry={"require_signature": True})) == [
        "[sentry] require_signature is true but SENTRY_CLIENT_SECRET is not set"]
    assert plugin.check_config(config=settings(sentry={"require_signature": True},
                                               env={"SENTRY_CLIENT_SECRET": "x"})) == []


@pytest.mark.parametrize("sentry, env, ready", [
    ({}, {"SENTRY_AUTH_TOKEN": "t0ken", "SENTRY_ORG": "acme"}, True),
    ({"organization": "acme"}, {"SENTRY_AUTH_TOKEN": "t0ken"}, True),
    ({}, {"SENTRY_AUTH_TOKEN": "t0ken"}, False),
    ({"organization": ""}, {"SENTRY_AUTH_TOKEN": "t0ken"}, False),
    ({}, {"SENTRY_ORG": "acme"}, False),
    ({}, {}, False),
])
def test_api_ready_is_the_one_test_every_caller_of_sentrys_api_makes(settings, sentry, env, ready):
    from hub import CommandError
    from hub_sentry import commands, syncback

    config = settings(sentry={**sentry, "sync_back": True, "reconcile_interval_minutes": 5}, env=env)
    section = config.plugin("sentry")
    assert section.api_ready is ready
    assert (plugin._api_problems(section) == []) is ready
    assert bool(commands.periodic_reconcile(config)) is ready
    assert syncback.enabled(config) is ready
    if ready:
        commands._usable(section)
    else:
        with pytest.raises(CommandError, match="set SENTRY_AUTH_TOKEN"):
            commands._usable(section)
