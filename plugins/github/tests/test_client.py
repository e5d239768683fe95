"""The GitHub client against recorded answers: headers, rate limits, failures, ETags, pagination."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest

from hub import RetryLater, Unavailable
from hub_github.client import ETAG_NAMESPACE, GitHubClient, GitHubError

SHA_691 = "b83812aa76bb7c3c43da96fbf8aec1e45db87624"


@pytest.fixture
def client(fake_github, cache, token):
    """A client for api.github.com whose requests go to the fake."""
    return GitHubClient(fake_github.client(), api_url="https://api.github.com", token=token, cache=cache)


async def test_every_request_carries_token_accept_version_and_user_agent(fake_github, client, token):
    fake_github.serve("rate-limited-403.json")
    await client.get_json("/users/jacquev6")
    headers = fake_github.requests[0].headers
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["user-agent"] == "hub-github/0.1"


async def test_enterprise_api_url_prefixes_every_path(fake_github, cache, token):
    fake_github.respond("GET", "/api/v3/users/jacquev6", json_body={"login": "jacquev6"})
    client = GitHubClient(fake_github.client(), api_url="https://ghe.example.com/api/v3/",
                          token=token, cache=cache)
    assert await client.get_json("/users/jacquev6") == {"login": "jacquev6"}
    assert str(fake_github.requests[0].url) == "https://ghe.example.com/api/v3/users/jacquev6"


async def test_primary_limit_waits_until_the_reset_time(fake_github, client, token):
    # The 2013 recording predates x-ratelimit-reset; the header GitHub sends today is added.
    reset = 1368795600
    fake_github.serve("rate-limited-403.json", **{"x-ratelimit-reset": str(reset)})
    await client.get_json("/users/jacquev6")  # 200 with remaining 0 is still an answer
    with pytest.raises(RetryLater) as caught:
        await client.get_json("/users/jacquev6")
    assert caught.value.until == datetime.fromtimestamp(reset, timezone.utc)
    assert caught.value.after_seconds is None
    assert "rate limit" in caught.value.reason and token not in caught.value.reason


async def test_primary_limit_without_reset_header_waits_a_minute(fake_github, client):
    fake_github.serve("rate-limited-403.json")  # verbatim: remaining 0, no reset
    await client.get_json("/users/jacquev6")
    with pytest.raises(RetryLater) as caught:
        await client.get_json("/users/jacquev6")
    assert caught.value.until is None and caught.value.after_seconds >= 60


async def test_secondary_limit_waits_as_long_as_retry_after_says(fake_github, client):
    fake_github.serve("secondary-rate-limited-403.json")
    with pytest.raises(RetryLater) as caught:
        await client.get_json("/search/code", {"q": "jacquev6"})
    assert caught.value.after_seconds == 60.0
    assert caught.value.until is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
        (403, "You have triggered an abuse detection mechanism."),
        (429, "Too many requests"),
    ],
)
async def test_secondary_limit_without_retry_after_waits_at_least_a_minute(fake_github, client, status, message):
    fake_github.respond("GET", "/repos/o/r/commits", status=status, json_body={"message": message})
    with pytest.raises(RetryLater) as caught:
        await client.get_json("/repos/o/r/commits")
    assert caught.value.after_seconds >= 60


async def test_permission_403_is_an_ordinary_error_with_a_hint(fake_github, client):
    fake_github.respond("GET", "/repos/o/r/deployments", status=403,
                        json_body={"message": "Resource not accessible by personal access token"})
    with pytest.raises(GitHubError, match=r"403 to GET /repos/o/r/deployments: Resource not accessible.*Deployments"):
        await client.get_json("/repos/o/r/deployments")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_outages(fake_github, client, token, status):
    fake_github.respond("GET", "/repos/o/r/commits", status=status, json_body={"message": "Server Error"})
    with pytest.raises(GitHubError, match=rf"GitHub answered {status} to GET /repos/o/r/commits") as caught:
        await client.get_json("/repos/o/r/commits")
    assert not isinstance(caught.value, RetryLater) and token not in str(caught.value)
    assert isinstance(caught.value, Unavailable)  # the worker waits it out without using up attempts


async def test_unknown_repository_names_the_likely_cause(fake_github, client):
    with pytest.raises(GitHubError, match=r"404 .*check the repository name") as caught:
        await client.get_json("/repos/nobody/nothing/commits")
    assert not isinstance(caught.value, Unavailable)  # GitHub answered: retrying will not help


async def test_network_failure_is_an_outage(fake_github, client):
    fake_github.fail("GET", "/repos/o/r/commits", httpx.ConnectError("connection refused"))
    with pytest.raises(GitHubError, match=r"GET /repos/o/r/commits failed: ConnectError") as caught:
        await client.get_json("/repos/o/r/commits")
    assert isinstance(caught.value, Unavailable)


async def test_a_body_that_is_not_json_is_an_ordinary_error(fake_github, client):
    fake_github.respond("GET", "/repos/o/r/commits", text="<html>proxy</html>")
    with pytest.raises(GitHubError, match="not JSON"):
        await client.get_json("/repos/o/r/commits")


async def test_conditional_get_reuses_the_cached_body_on_304(fake_github, cache, client):
    fake_github.serve("conditional-304.json")  # 200 with an ETag, then the recorded 304
    first = await client.get_conditional("/repos/akfish/PyGithub", {}, keep=lambda body: body["full_name"])
    second = await client.get_conditional("/repos/akfish/PyGithub", {}, keep=lambda body: body["full_name"])
    assert first == second == "akfish/PyGithub"
    assert fake_github.statuses == [200, 304]
    assert "if-none-match" not in fake_github.requests[0].headers
    assert fake_github.requests[1].headers["if-none-match"] == '"8600bedcb7fed1d8065e1693e05529ce"'
    stored = await cache.get(ETAG_NAMESPACE, "https://api.github.com/repos/akfish/PyGithub")
    assert stored == {"etag": '"8600bedcb7fed1d8065e1693e05529ce"', "body": "akfish/PyGithub"}


async def test_commit_files_follow_every_page_of_a_691_file_commit(fake_github, client):
    fake_github.serve("get-commit-691-files-3-pages.json")
    pages, complete = await client.get_pages(
        f"/repos/hub4j-test-org/CommitTest/commits/{SHA_691}", max_pages=10)
    assert complete
    assert [len(page["files"]) for page in pages] == [300, 300, 91]
    assert fake_github.paths() == [
        f"/repos/hub4j-test-org/CommitTest/commits/{SHA_691}",
        f"/repositories/657543062/commits/{SHA_691}?page=2",
        f"/repositories/657543062/commits/{SHA_691}?page=3",
    ]


async def test_commit_file_pages_stop_at_max_pages(fake_github, client):
    fake_github.serve("get-commit-691-files-3-pages.json")
    pages, complete = await client.get_pages(
        f"/repos/hub4j-test-org/CommitTest/commits/{SHA_691}", max_pages=2)
    assert not complete
    assert len(pages) == 2 and len(fake_github.requests) == 2


async def test_pagination_never_sends_the_token_to_another_host(fake_github, client):
    fake_github.respond("GET", "/repos/o/r/commits/abc", json_body={"files": []},
                        headers={"link": '<https://evil.example.com/steal?page=2>; rel="next"'})
    pages, complete = await client.get_pages("/repos/o/r/commits/abc", max_pages=10)
    assert len(pages) == 1 and not complete
    assert [r.url.host for r in fake_github.requests] == ["api.github.com"]


# One request path (GitHubClient._request) under every way of calling GitHub: the correlation's
# reads, its pages and conditional reads, and the issue mirror's reads and writes.
ISSUE = "/repos/PyGithub/PyGithub/issues/28"
FACES = {
    "read": ("GET", lambda client: client.get_json(ISSUE)),
    "pages": ("GET", lambda client: client.get_pages(ISSUE, max_pages=1)),
    "conditional": ("GET", lambda client: client.get_conditional(ISSUE, {}, keep=lambda body: body)),
    "mirror read": ("GET", lambda client: client.send("GET", ISSUE)),
    "mirror write": ("PATCH", lambda client: client.send("PATCH", ISSUE, {"state": "closed"})),
}


def _answer_ok(fake_github, method: str, **headers: str) -> None:
    """A recorded 200 for ``method`` at ISSUE (a GET's body is a recorded commit list; it is only passed on)."""
    if method == "PATCH":
        fake_github.replay("edit-issue-200.json", 0, "PATCH", ISSUE, **headers)
    else:
        fake_github.replay("list-commits-since-until.json", 0, "GET", ISSUE, **headers)


@pytest.mark.parametrize("face", FACES)
async def test_every_face_waits_out_an_exhausted_primary_limit_until_the_reset(fake_github, client, face):
    method, call = FACES[face]
    reset = 1368795600
    fake_github.replay("rate-limited-403.json", 1, method, ISSUE, **{"x-ratelimit-reset": str(reset)})
    with pytest.raises(RetryLater) as caught:
        await call(client)
    assert caught.value.until == datetime.fromtimestamp(reset, timezone.utc)
    assert f"rate limit exhausted on {method} {ISSUE}" in caught.value.reason


@pytest.mark.parametrize("face", FACES)
async def test_every_face_waits_as_long_as_retry_after_says(fake_github, client, face):
    method, call = FACES[face]
    fake_github.replay("secondary-rate-limited-403.json", 0, method, ISSUE)
    with pytest.raises(RetryLater) as caught:
        await call(client)
    assert caught.value.after_seconds == 60.0 and caught.value.until is None


@pytest.mark.parametrize(("first", "then"), [("read", "mirror write"), ("mirror write", "read"),
                                             ("pages", "mirror read"), ("mirror read", "conditional")])
async def test_what_one_face_learns_of_the_hour_holds_back_every_other(fake_github, client, first, then):
    """The answers of every call count down the token's one budget: near the reserve, nothing more is asked."""
    reset = int(time.time()) + 3600
    _answer_ok(fake_github, FACES[first][0], **{"x-ratelimit-remaining": "40", "x-ratelimit-reset": str(reset)})
    await FACES[first][1](client)
    with pytest.raises(RetryLater) as caught:
        await FACES[then][1](client)
    assert "40 requests left" in caught.value.reason
    assert caught.value.until == datetime.fromtimestamp(reset, timezone.utc)
    assert len(fake_github.requests) == 1  # the second was never sent


@pytest.mark.parametrize("face", FACES)
async def test_every_face_treats_5xx_and_a_broken_network_as_an_outage(fake_github, cache, token, face):
    method, call = FACES[face]
    fake_github.respond(method, ISSUE, status=502, json_body={"message": "Server Error"})
    client = GitHubClient(fake_github.client(), api_url="https://api.github.com", token=token, cache=cache)
    with pytest.raises(Unavailable, match=rf"GitHub answered 502 to {method} {ISSUE}: Server Error"):
        await call(client)
    broken = FakeGitHubBroken(method)
    client = GitHubClient(broken.client(), api_url="https://ghe.example.com/api/v3", token=token, cache=cache)
    with pytest.raises(Unavailable) as caught:
        await call(client)
    # Named as GitHub's own answers name it (the whole path), reads and the mirror's calls alike.
    assert str(caught.value) == f"GitHub request {method} /api/v3{ISSUE} failed: ConnectError: connection refused"
    assert token not in str(caught.value)


class FakeGitHubBroken:
    """A network that refuses every connection."""

    def __init__(self, method: str) -> None:
        self.method = method

    def client(self) -> httpx.AsyncClient:
        def refuse(request: httpx.Request) -> httpx.Response:
            assert request.method == self.method
            raise httpx.ConnectError("connection refused")
        return httpx.AsyncClient(transport=httpx.MockTransport(refuse))


async def test_reads_follow_a_renamed_repositorys_redirect_and_the_mirrors_calls_do_not(fake_github, client):
    moved = {"location": "https://api.github.com/repositories/3544490/issues/28"}
    fake_github.respond("GET", ISSUE, status=301, headers=moved)  # no recording has one: a bare HTTP redirect
    fake_github.replay("list-commits-since-until.json", 0, "GET", "/repositories/3544490/issues/28")
    assert isinstance(await client.get_json(ISSUE), list)
    with pytest.raises(GitHubError, match=f"GitHub answered 301 to GET {ISSUE}"):
        await client.send("GET", ISSUE)  # a write must never be replayed elsewhere; its reads behave alike
