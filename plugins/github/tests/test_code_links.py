"""``code_link``: a stack frame's file and line on GitHub, in the project's repository."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from hub.config import build_settings
from hub_github import plugin
from hub_github.code_links import code_url, web_url
from hub_github.settings import CONFIG_SECTION, GithubSettings


def _config(github: dict):
    return build_settings({"github": github}, [CONFIG_SECTION], env={})


def test_hook_code_link_maps_the_project_and_strips_build_prefixes():
    config = _config({"repo": "acme/monolith", "repos": {"web": "acme/web"}})
    link = plugin.code_link(project="web", path="webpack:///./src/App.tsx", line=12, commit=None, config=config)
    assert link == "https://github.com/acme/web/blob/HEAD/src/App.tsx#L12"
    fallback = plugin.code_link(project="api", path="app:///lib/Ünïcode file.py", line=None,
                                commit="6BA09A7C53235EE8A8FA5EE4C1CA8CA886E7FDBB", config=config)
    assert fallback == ("https://github.com/acme/monolith/blob/6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb/"
                        "lib/%C3%9Cn%C3%AFcode%20file.py")


def test_no_repository_or_no_path_is_no_link():
    assert plugin.code_link(project="web", path="src/a.py", line=1, commit=None, config=_config({})) is None
    assert code_url(GithubSettings(repo="acme/web"), None, "webpack:///./", 1, None) is None


def test_a_commit_that_is_not_a_sha_is_the_default_branch():
    assert "/blob/HEAD/" in code_url(GithubSettings(repo="acme/web"), None, "a.py", 1, "../../etc")


def test_enterprise_web_address():
    assert web_url("https://api.github.com") == "https://github.com"
    assert web_url("https://ghe.example.com/api/v3") == "https://ghe.example.com"


@settings(max_examples=60, deadline=None)
@given(path=st.text(max_size=80), line=st.one_of(st.none(), st.integers(1, 10**6)))
def test_any_path_stays_inside_the_repository(path, line):
    url = code_url(GithubSettings(repo="acme/web"), None, path, line, None)
    if url is not None:
        rest = url.removeprefix("https://github.com/acme/web/blob/HEAD/")
        assert rest != url and not any(char in rest for char in " \r\n\t<>\"'") and "/../" not in f"/{rest}/"
