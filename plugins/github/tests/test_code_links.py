"""``code_link``: a stack frame's file and line on GitHub, in the project's repository."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import given, settings, strategies as st

from hub.cache import MemoryCache
from hub.config import build_settings
from hub_github import plugin
from hub_github.client import flights
from hub_github.code_links import code_url, web_url
from hub_github.settings import CONFIG_SECTION, GithubSettings

# The recorded tree (fixtures/get-tree-recursive.json) is PyGithub's at this commit.
TREE_SHA = "f492784d8ca837779650d1fb406a1a3587a764ad"


def _config(github: dict, env: dict | None = None):
    return build_settings({"github": github}, [CONFIG_SECTION], env=env or {})


async def _link(config, project, path, line, commit, http=None, cache=None):
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(599))) as unused:
        return await plugin.code_link(project=project, path=path, line=line, commit=commit, config=config,
                                      http=http or unused, cache=cache or MemoryCache())


async def test_hook_code_link_maps_the_project_and_strips_build_prefixes():
    config = _config({"repo": "acme/monolith", "repos": {"web": "acme/web"}})
    assert await _link(config, "web", "webpack:///./src/App.tsx", 12, None) == \
        "https://github.com/acme/web/blob/HEAD/src/App.tsx#L12"
    assert await _link(config, "api", "app:///lib/Ünïcode file.py", None, "6BA09A7C53235EE8A8FA5EE4C1CA8CA886E7FDBB") == \
        "https://github.com/acme/monolith/blob/6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb/lib/%C3%9Cn%C3%AFcode%20file.py"


async def test_with_a_token_the_path_is_found_among_the_repositorys_files(fake_github, token):
    fake_github.serve("get-tree-recursive.json", as_repo=("PyGithub/PyGithub", "acme/web"))
    config = _config({"repos": {"web": "acme/web"}}, env={"GITHUB_TOKEN": token})
    cache = MemoryCache()
    async with fake_github.client() as http:
        # A container's /usr/src/app in front: the tree says where the file is.
        first = await _link(config, "web", "/usr/src/app/github/GithubObjects/Repository.py", 40, TREE_SHA, http, cache)
        again = await _link(config, "web", "/srv/github/Requester.py", 3, TREE_SHA, http, cache)
        unknown = await _link(config, "web", "/usr/src/app/other/thing.py", 1, TREE_SHA, http, cache)
    assert first == f"https://github.com/acme/web/blob/{TREE_SHA}/github/GithubObjects/Repository.py#L40"
    assert again == f"https://github.com/acme/web/blob/{TREE_SHA}/github/Requester.py#L3"
    assert unknown == f"https://github.com/acme/web/blob/{TREE_SHA}/usr/src/app/other/thing.py#L1"
    assert fake_github.paths() == [f"/repos/acme/web/git/trees/{TREE_SHA}?recursive=1"]  # then from the cache


async def test_concurrent_frames_on_a_cold_cache_share_one_tree_request(fake_github, token):
    """A stack trace's frames (or one deploy's errors opened together) ask for one tree at once."""
    fake_github.serve("get-tree-recursive.json", as_repo=("PyGithub/PyGithub", "acme/web"))
    config = _config({"repos": {"web": "acme/web"}}, env={"GITHUB_TOKEN": token})
    cache, release, in_flight = MemoryCache(), asyncio.Event(), [0]

    async def slow_github(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        await release.wait()
        return fake_github._handle(request)

    frames = ["/usr/src/app/github/GithubObjects/Repository.py", "/srv/github/Requester.py",
              "/usr/src/app/other/thing.py", "webpack:///./github/Requester.py", "/app/github/Requester.py"]
    joined = flights().joined
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow_github)) as http:
        links = [asyncio.create_task(_link(config, "web", path, 1, TREE_SHA, http, cache)) for path in frames]

        async def everyone_waits() -> None:  # at GitHub, or for the call of another frame
            while in_flight[0] + flights().joined - joined < len(frames):
                await asyncio.sleep(0.001)

        await asyncio.wait_for(everyone_waits(), 2)
        release.set()
        found = await asyncio.gather(*links)
    assert fake_github.paths() == [f"/repos/acme/web/git/trees/{TREE_SHA}?recursive=1"]
    base = f"https://github.com/acme/web/blob/{TREE_SHA}"
    assert found == [f"{base}/github/GithubObjects/Repository.py#L1", f"{base}/github/Requester.py#L1",
                     f"{base}/usr/src/app/other/thing.py#L1", f"{base}/github/Requester.py#L1",
                     f"{base}/github/Requester.py#L1"]


async def test_github_failing_or_unknown_falls_back_to_the_stripped_path(fake_github, token, caplog):
    config = _config({"repo": "acme/web"}, env={"GITHUB_TOKEN": token})
    async with fake_github.client() as http:  # nothing recorded: GitHub answers 404
        link = await _link(config, None, "webpack:///./src/a.ts", 2, None, http)
    assert link == "https://github.com/acme/web/blob/HEAD/src/a.ts#L2"
    assert fake_github.paths() == ["/repos/acme/web/git/trees/HEAD?recursive=1"]
    assert "not listed for a stack-trace link" in caplog.text and token not in caplog.text


async def test_no_repository_or_no_path_is_no_link():
    assert await _link(_config({}), "web", "src/a.py", 1, None) is None
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
