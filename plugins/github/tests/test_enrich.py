"""enrich_description end to end against recorded GitHub answers, called the way the worker calls it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub import RetryLater, Section
from hub.plugins import build_plugin_manager
from hub_github import plugin
from hub_github.client import GitHubClient, GitHubError
from hub_github.correlate import COMMIT_NAMESPACE, Window, list_commit_shas

REPO = "PyGithub/PyGithub"
SHA = "0791cc7b1a706ab5d7c607ddff35de4d486ba3e9"
BIG_REPO = "hub4j-test-org/CommitTest"
SHA_691 = "b83812aa76bb7c3c43da96fbf8aec1e45db87624"
# list-commits.json: two commits on 2023-08-28; the first one's files are recorded (3, on 2 pages).
COMMITS_SEEN = datetime(2023, 8, 28, 19, 0, tzinfo=timezone.utc)
# list-deployments.json: "production" at 2020-08-26T11:40:41Z and "test" at 11:44:53Z.
DEPLOYED_SEEN = datetime(2020, 8, 26, 12, 0, tzinfo=timezone.utc)
# get-commit-691-files-3-pages.json: committed 2023-06-23T09:50:57Z.
BIG_COMMIT_SEEN = datetime(2023, 6, 23, 12, 0, tzinfo=timezone.utc)
# From COMMITS_SEEN back past both deployments: one window holding every recording.
HOURS_TO_2020 = 26400


def serve_pygithub(fake, *, commits=True):
    """PyGithub/PyGithub as recorded: commits (or none), deployments and their statuses."""
    if commits:
        # Recorded on a branch (sha=release-v2-0); the hub asks for the default branch.
        fake.serve("list-commits.json", ignore=("sha",))
    else:
        fake.respond("GET", f"/repos/{REPO}/commits", json_body=[])
    fake.serve("list-deployments.json")
    # jacquev6/PyGithub is the repository's former name (same repository id, 3544490).
    fake.serve("list-deployment-statuses.json", as_repo=("jacquev6/PyGithub", REPO))
    # No status was recorded for the other deployment: one without any status yet.
    fake.respond("GET", f"/repos/{REPO}/deployments/262350588/statuses", json_body=[])
    return fake


def serve_big_commit(fake):
    """The recorded 691-file commit as the only commit of its repository (the list is made here)."""
    fake.respond("GET", f"/repos/{BIG_REPO}/commits", json_body=[{"sha": SHA_691}])
    fake.serve("get-commit-691-files-3-pages.json")
    fake.respond("GET", f"/repos/{BIG_REPO}/deployments", json_body=[])
    return fake


def commit_gets(fake, sha):
    return [path for path in fake.paths() if f"/commits/{sha}" in path]


@pytest.fixture
def configure(make_settings, token):
    """Settings with GITHUB_TOKEN set and the given ``[github]`` table."""
    return lambda timezone="UTC", **github: make_settings(github, env={"GITHUB_TOKEN": token},
                                                          timezone=timezone)


@pytest.fixture
def settings(configure):
    """PyGithub/PyGithub, one commit, and a window back to the recorded deployments."""
    return configure(repo=REPO, max_commits=1, lookback_hours=HOURS_TO_2020)


@pytest.fixture
def enrich(fake_github, cache, issue, make_link):
    """``await enrich(settings, first_seen=..., stack=[...], slug=...)``: the hook's Section (or None).

    Called through a plugin manager with keyword arguments, as the worker calls it.
    """
    pm = build_plugin_manager(load_entry_points=False, extra=[plugin])

    async def run(settings, *, first_seen, stack=(), slug="backend"):
        results = pm.hook.enrich_description(
            issue=issue, link=make_link(slug), stack_files=list(stack), first_seen=first_seen, project=slug,
            config=settings, http=fake_github.client(), cache=cache)
        assert len(results) == 1
        return await results[0]
    return run


async def test_hook_enrich_description_writes_the_seed_layout(enrich, fake_github, settings, golden):
    serve_pygithub(fake_github)
    stack = ["/usr/src/app/github/Requester.py", "/usr/lib/python3.11/asyncio/events.py"]
    section = await enrich(settings, first_seen=COMMITS_SEEN, stack=stack)
    assert section == Section(key="suspected-cause", markdown=golden("pygithub-commits-and-deployments.md"))
    assert fake_github.paths() == [
        f"/repos/{REPO}/commits?since=2020-08-23T18%3A50%3A00Z&until=2023-08-28T19%3A00%3A00Z&per_page=100",
        f"/repos/{REPO}/commits/{SHA}",
        f"/repositories/3544490/commits/{SHA}?page=2&per_page=2",
        f"/repos/{REPO}/deployments?per_page=100",
        f"/repos/{REPO}/deployments/263877258/statuses?per_page=1",
        f"/repos/{REPO}/deployments/262350588/statuses?per_page=1",
    ]


async def test_hook_enrich_description_lists_stack_files_first_and_caps_the_file_list(
        enrich, fake_github, configure, golden):
    serve_big_commit(fake_github)
    settings = configure(repo=BIG_REPO, timezone="Europe/Zurich")
    stack = ["C:\\build\\CommitTest\\random\\6559.txt", "webpack:///./random/10054.txt"]
    section = await enrich(settings, first_seen=BIG_COMMIT_SEEN, stack=stack)
    assert section.markdown == golden("commit-with-691-files.md")
    assert len(commit_gets(fake_github, SHA_691)) == 3


async def test_hook_enrich_description_file_pages_are_bounded_by_max_file_pages(enrich, fake_github, configure):
    serve_big_commit(fake_github)
    settings = configure(repo=BIG_REPO, max_file_pages=2)
    section = await enrich(settings, first_seen=BIG_COMMIT_SEEN, stack=["random/6559.txt"])  # on page 3
    assert len(commit_gets(fake_github, SHA_691)) == 2
    assert "(+595 more, list truncated)" in section.markdown
    assert "Files in Stack Trace" not in section.markdown


async def test_hook_enrich_description_sends_token_accept_version_and_user_agent(
        enrich, fake_github, settings, token):
    serve_pygithub(fake_github)
    await enrich(settings, first_seen=COMMITS_SEEN)
    assert len(fake_github.requests) == 6
    for request in fake_github.requests:
        assert request.headers["authorization"] == f"Bearer {token}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"] == "hub-github/0.1"


async def test_hook_enrich_description_twice_fetches_each_commit_once(enrich, fake_github, cache, settings):
    serve_pygithub(fake_github)
    first = await enrich(settings, first_seen=COMMITS_SEEN)
    fetched = commit_gets(fake_github, SHA)
    assert len(fetched) == 2  # its two file pages
    second = await enrich(settings, first_seen=COMMITS_SEEN.replace(minute=30))  # another error
    assert commit_gets(fake_github, SHA) == fetched
    assert second == first
    stored = await cache.get(COMMIT_NAMESPACE, f"{REPO}@{SHA}")
    assert stored["files"] == ["github/Auth.py", "github/Requester.py", "tests/Authentication.py"]
    assert stored["title"] == "Fixing lint errors in release branch"


async def test_hook_enrich_description_rerun_uses_etags_and_writes_the_same_text(enrich, fake_github, settings):
    serve_pygithub(fake_github).honour_etags = True
    first = await enrich(settings, first_seen=COMMITS_SEEN)
    count = len(fake_github.requests)
    again = await enrich(settings, first_seen=COMMITS_SEEN)
    rerun = fake_github.requests[count:]
    assert [r.url.path for r in rerun] == [
        f"/repos/{REPO}/commits", f"/repos/{REPO}/deployments",
        f"/repos/{REPO}/deployments/263877258/statuses", f"/repos/{REPO}/deployments/262350588/statuses",
    ]
    # Lists with an ETag are asked conditionally and answered 304 from the cached body; the
    # test-made empty status list has no ETag, so it is fetched again.
    assert [r.headers.get("if-none-match") is not None for r in rerun] == [True, True, True, False]
    assert fake_github.statuses[count:] == [304, 304, 304, 200]
    assert again == first and again.markdown.count("## Suspected Cause") == 1


async def test_hook_enrich_description_window_ends_at_first_seen(enrich, fake_github, configure):
    fake_github.respond("GET", "/repos/o/r/commits", json_body=[])
    fake_github.respond("GET", "/repos/o/r/deployments", json_body=[])
    # 13:30:00.75 in Zurich (CET) is 12:30:00 UTC: whole seconds, UTC, 48 hours back, a full
    # page (the commits outside the window are dropped by the hub: test_bursts.py).
    first_seen = datetime(2024, 12, 13, 13, 30, 0, 750000, tzinfo=ZoneInfo("Europe/Zurich"))
    await enrich(configure(repo="o/r"), first_seen=first_seen)
    params = dict(fake_github.requests[0].url.params)
    assert params == {"since": "2024-12-11T12:20:00Z", "until": "2024-12-13T12:30:00Z", "per_page": "100"}
    # Errors of one deploy, first seen minutes apart in one step (LIST_STEP): one list.
    for later in (timedelta(seconds=1), timedelta(minutes=9, seconds=59)):
        await enrich(configure(repo="o/r"), first_seen=first_seen + later)
    assert [dict(request.url.params) for request in fake_github.requests[2::2]] == [
        {"since": "2024-12-11T12:30:00Z", "until": "2024-12-13T12:40:00Z", "per_page": "100"}] * 2


async def test_commit_list_window_matches_the_recorded_since_and_until(
        fake_github, cache, configure, token, fixture_data):
    # The fake answers this recording only for until=2013-03-31T00:00:00Z (recorded with
    # since=2013-03-01T00:00:00Z; the hub asks one step earlier and cuts: LIST_STEP).
    fake_github.serve("list-commits-since-until.json", ignore=("since",))
    github = configure(repo=REPO, lookback_hours=30 * 24).plugin("github")
    client = GitHubClient(fake_github.client(), api_url=github.api_url, token=token, cache=cache)
    window = Window.before(datetime(2013, 3, 31, 0, 0, tzinfo=timezone.utc), github)
    shas = await list_commit_shas(client, REPO, window, github.max_commits)
    assert fake_github.statuses == [200]  # one page
    assert fake_github.requests[0].url.params["since"] == "2013-02-28T23:50:00Z"
    recorded = fixture_data("list-commits-since-until.json")["exchanges"][0]["response"]["body"]
    assert shas == [c["sha"] for c in recorded][:20]


@pytest.mark.parametrize(
    ("first_seen", "shown"),
    [
        # deployed_until = first_seen + 15 minutes, inclusive.
        (datetime(2020, 8, 26, 11, 29, 53, tzinfo=timezone.utc), ["test", "production"]),
        (datetime(2020, 8, 26, 11, 29, 52, tzinfo=timezone.utc), ["production"]),
        # since = first_seen - 48 hours, inclusive.
        (datetime(2020, 8, 28, 11, 40, 41, tzinfo=timezone.utc), ["test", "production"]),
        (datetime(2020, 8, 28, 11, 40, 42, tzinfo=timezone.utc), ["test"]),
        (datetime(2020, 8, 28, 11, 44, 54, tzinfo=timezone.utc), []),
    ],
)
async def test_hook_enrich_description_deployment_window_edges(enrich, fake_github, configure, first_seen, shown):
    serve_pygithub(fake_github, commits=False)
    section = await enrich(configure(repo=REPO), first_seen=first_seen)
    environments = [line.split("**")[1] for line in section.markdown.splitlines() if line.startswith("- **")]
    assert environments == shown
    assert len([p for p in fake_github.paths() if p.endswith("/statuses?per_page=1")]) == len(shown)


async def test_hook_enrich_description_shows_deployments_alone(enrich, fake_github, configure):
    serve_pygithub(fake_github, commits=False)
    section = await enrich(configure(repo=REPO), first_seen=DEPLOYED_SEEN)
    assert section.markdown == (
        "## Suspected Cause\n\n### Recent Deployments\n\n"
        "- **test** - `743f5a5` at 8/26/2020, 11:44:53 AM - queued\n"
        "- **production** - `743f5a5` at 8/26/2020, 11:40:41 AM\n"
    )


async def test_hook_enrich_description_max_deployments_zero_skips_deployments(enrich, fake_github, configure):
    serve_pygithub(fake_github)
    settings = configure(repo=REPO, max_commits=1, lookback_hours=HOURS_TO_2020, max_deployments=0)
    section = await enrich(settings, first_seen=COMMITS_SEEN)
    assert "Recent Deployments" not in section.markdown and "Recent Commits" in section.markdown
    assert not [p for p in fake_github.paths() if "/deployments" in p]


async def test_hook_enrich_description_nothing_found_is_an_empty_section_with_a_note(
        enrich, fake_github, configure):
    fake_github.respond("GET", "/repos/acme/api/commits", json_body=[])
    fake_github.respond("GET", "/repos/acme/api/deployments", json_body=[])
    section = await enrich(configure(repo="acme/api"), first_seen=datetime(2024, 12, 13, 10, 30, tzinfo=timezone.utc))
    assert section == Section(key="suspected-cause", markdown="", note=(
        "no commits or deployments between 2024-12-11T10:30:00Z and 2024-12-13T10:30:00Z in acme/api"))


async def test_hook_enrich_description_uses_the_project_repository(enrich, fake_github, configure):
    serve_pygithub(fake_github, commits=False)
    settings = configure(repo="acme/web", repos={"pygithub": REPO})
    section = await enrich(settings, slug="pygithub", first_seen=DEPLOYED_SEEN)
    assert "Recent Deployments" in section.markdown
    assert fake_github.requests
    assert all(r.url.path.startswith(f"/repos/{REPO}/") for r in fake_github.requests)


async def test_hook_enrich_description_other_projects_use_the_default_repository(enrich, fake_github, configure):
    fake_github.respond("GET", "/repos/acme/web/commits", json_body=[])
    fake_github.respond("GET", "/repos/acme/web/deployments", json_body=[])
    settings = configure(repo="acme/web", repos={"pygithub": REPO})
    section = await enrich(settings, slug="frontend", first_seen=DEPLOYED_SEEN)
    assert section.note.endswith("in acme/web")


@pytest.mark.parametrize(
    ("github", "with_token", "slug"),
    [
        ({"repo": REPO}, False, "backend"),
        ({}, True, "backend"),
        ({"repos": {"pygithub": REPO}}, True, "frontend"),  # no repository for this project
        ({"repos": {"pygithub": REPO}}, True, None),  # not a Sentry link
    ],
)
async def test_hook_enrich_description_is_off_without_token_or_repository(
        enrich, fake_github, make_settings, token, caplog, github, with_token, slug):
    caplog.set_level(logging.DEBUG, logger="hub.github")
    settings = make_settings(github, env={"GITHUB_TOKEN": token} if with_token else {})
    assert await enrich(settings, slug=slug, first_seen=COMMITS_SEEN) is None
    assert fake_github.requests == []
    assert "CHIPP-7: no correlation" in caplog.text and token not in caplog.text


async def test_hook_enrich_description_primary_rate_limit_retries_at_the_reset(enrich, fake_github, settings):
    reset = 1693252800
    fake_github.replay("rate-limited-403.json", 1, "GET", f"/repos/{REPO}/commits",
                       **{"x-ratelimit-reset": str(reset)})
    with pytest.raises(RetryLater) as caught:
        await enrich(settings, first_seen=COMMITS_SEEN)
    assert caught.value.until == datetime.fromtimestamp(reset, timezone.utc)


async def test_hook_enrich_description_secondary_rate_limit_retries_after(enrich, fake_github, settings):
    fake_github.serve("list-commits.json", ignore=("sha",))
    fake_github.replay("secondary-rate-limited-403.json", 0, "GET", f"/repos/{REPO}/deployments")
    with pytest.raises(RetryLater) as caught:
        await enrich(settings, first_seen=COMMITS_SEEN)
    assert caught.value.after_seconds == 60.0


async def test_hook_enrich_description_server_error_is_an_ordinary_exception(
        enrich, fake_github, settings, caplog, token):
    caplog.set_level(logging.DEBUG)
    fake_github.respond("GET", f"/repos/{REPO}/commits", status=502, json_body={"message": "Server Error"})
    with pytest.raises(GitHubError, match="502") as caught:
        await enrich(settings, first_seen=COMMITS_SEEN)
    assert not isinstance(caught.value, RetryLater)
    assert token not in str(caught.value) and token not in caplog.text


async def test_hook_enrich_description_names_the_deployed_ref(enrich, fake_github, configure):
    repo = "hub4j-test-org/github-api-test"
    fake_github.respond("GET", f"/repos/{repo}/commits", json_body=[])
    # Recorded with ?ref=main&environment=unittest filters the hub does not use.
    fake_github.serve("list-deployments-filtered.json", ignore=("ref", "environment"))
    fake_github.respond("GET", f"/repos/{repo}/deployments/315601563/statuses",
                        json_body=[{"state": "success", "environment": "unittest"}])
    section = await enrich(configure(repo=repo), first_seen=datetime(2021, 1, 23, 6, 0, tzinfo=timezone.utc))
    assert section.markdown.endswith(
        "### Recent Deployments\n\n- **unittest** - `e53a04c` (main) at 1/23/2021, 5:30:28 AM - success\n")
