"""``[github]`` settings (register_config) and the start-up line saying whether correlation is on."""

from __future__ import annotations

import logging
import tomllib

import pytest

from hub.config import ConfigError, build_settings
from hub_github import plugin
from hub_github.settings import CONFIG_SECTION, GithubSettings


def test_hook_register_config_declares_the_section_env_and_secret():
    section = plugin.register_config()
    assert section.name == "github" and section.model is GithubSettings
    assert section.env == {"token": "GITHUB_TOKEN", "repo": "GITHUB_REPO", "api_url": "GITHUB_API_URL",
                           "webhook_secret": "GITHUB_WEBHOOK_SECRET"}
    assert section.secrets == frozenset({"token", "webhook_secret"})


def test_hook_register_config_defaults(make_settings):
    github = make_settings().plugin("github")
    assert github.token is None and github.repo is None and github.repos == {}
    assert github.api_url == "https://api.github.com"
    assert (github.lookback_hours, github.max_commits, github.max_file_pages) == (48, 20, 10)
    assert (github.max_deployments, github.deployment_margin_minutes) == (5, 15)


def test_hook_register_config_reads_the_environment(make_settings, token):
    github = make_settings({"repo": "file/repo"}, env={
        "GITHUB_TOKEN": token, "GITHUB_REPO": "BenchmarkAI/chipp-monorepo",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/"}).plugin("github")
    assert github.token.get_secret_value() == token
    assert github.repo == "BenchmarkAI/chipp-monorepo"
    assert github.api_url == "https://ghe.example.com/api/v3"
    assert token not in repr(github)


def test_hook_register_config_reads_the_repos_table_from_toml():
    raw = tomllib.loads(
        '[github]\nrepo = "acme/web"\nlookback_hours = 24\n\n'
        '[github.repos]\nbackend = "acme/api"\n"mobile-app" = "acme/mobile.app"\n'
    )
    github = build_settings(raw, sections=[CONFIG_SECTION], env={}).plugin("github")
    assert github.repos == {"backend": "acme/api", "mobile-app": "acme/mobile.app"}
    assert github.repo_for("backend") == "acme/api"
    assert github.repo_for("other") == "acme/web"
    assert github.repo_for(None) == "acme/web"


def test_hook_register_config_refuses_a_token_in_the_file():
    with pytest.raises(ConfigError, match=r"\[github\] token is a secret.*GITHUB_TOKEN"):
        build_settings({"github": {"token": "ghp_x"}}, sections=[CONFIG_SECTION], env={})


@pytest.mark.parametrize(
    ("github", "error"),
    [
        ({"repo": "just-a-name"}, r"\[github\] repo: .*owner/repo"),
        ({"repo": "https://github.com/acme/api"}, r"\[github\] repo: .*owner/repo"),
        ({"repo": "acme/api/extra"}, r"\[github\] repo: .*owner/repo"),
        ({"repos": {"backend": "acme"}}, r"\[github\] repos: .*owner/repo"),
        ({"api_url": "api.github.com"}, r"\[github\] api_url: .*http"),
        ({"max_commits": 101}, r"\[github\] max_commits"),
        ({"max_file_pages": 11}, r"\[github\] max_file_pages"),
        ({"lookback_hours": 0}, r"\[github\] lookback_hours"),
        ({"lookback": 48}, r"unknown key \[github\] lookback"),
    ],
)
def test_hook_register_config_rejects_bad_values(github, error):
    with pytest.raises(ConfigError, match=error):
        build_settings({"github": github}, sections=[CONFIG_SECTION], env={})


@pytest.mark.parametrize(
    ("github", "env", "level", "words"),
    [
        ({}, {}, logging.INFO, "off: set GITHUB_TOKEN and GITHUB_REPO"),
        ({"repo": "acme/api"}, {}, logging.WARNING, "off: GITHUB_TOKEN is not set"),
        ({}, {"GITHUB_TOKEN": "TOKEN"}, logging.WARNING, "off: no repository"),
        ({"repos": {"backend": "acme/api"}}, {"GITHUB_TOKEN": "TOKEN"}, logging.INFO, "[github.repos] only"),
        ({"repo": "acme/api"}, {"GITHUB_TOKEN": "TOKEN"}, logging.INFO, "on: acme/api via https://api.github.com"),
    ],
)
def test_hook_check_config_says_once_whether_correlation_is_on(make_settings, caplog, token, github, env, level, words):
    env = {key: token if value == "TOKEN" else value for key, value in env.items()}
    caplog.set_level(logging.DEBUG, logger="hub.github")
    assert plugin.check_config(config=make_settings(github, env=env)) == []
    assert [(r.levelno, r.name) for r in caplog.records] == [(level, "hub.github")]
    assert words in caplog.text and token not in caplog.text


def test_issues_enabled_without_a_token_or_a_repository_stops_the_start_in_one_line(make_settings):
    from hub.plugins import build_plugin_manager
    from hub.runtime import check_plugins

    settings = make_settings({"issues": {"enabled": True}})
    with pytest.raises(ConfigError) as raised:
        check_plugins(settings, build_plugin_manager(["sentry", "alertmanager"]))
    message = str(raised.value)
    assert "\n" not in message
    assert "[github.issues] enabled needs GITHUB_TOKEN" in message and "needs a repository" in message


@pytest.mark.parametrize(("issues", "words"), [
    ({"labels": {"P9": "x"}}, "keys are hub priorities"),
    ({"assignees": {"ana": "not a login"}}, "is not a GitHub login"),
    ({"assignees": {"ana": "Ana", "bo": "ana"}}, "is mapped from both"),
    ({"projects": {"web": "nope"}}, "expected 'owner/repo'"),
    ({"colour": "red"}, "unknown key [github] issues.colour"),
])
def test_a_bad_issues_map_is_one_line(make_settings, issues, words):
    with pytest.raises(ConfigError) as raised:
        make_settings({"issues": issues})
    assert words in str(raised.value) and "\n" not in str(raised.value)
