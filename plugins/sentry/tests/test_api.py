"""Sentry's REST API client against the fake Sentry (recorded shapes): pages, errors, rate limits."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import RetryLater
from hub_sentry.api import RateLimited, SentryApi, SentryError, SentryUnavailable, next_cursor, wait_seconds
from sentry_api_fake import INSTALLATION, ORG, TOKEN, FakeSentry

ENV = {"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def api(settings):
    """``api(fake, max_wait=...)``: a client on the fake, its sleeps recorded (never slept)."""
    clients: list[httpx.AsyncClient] = []

    def build(fake: FakeSentry, max_wait: float = 120.0, clock=lambda: 1_000_000.0) -> SentryApi:
        http = httpx.AsyncClient(transport=fake.transport())
        clients.append(http)
        return SentryApi(http, settings(env=ENV).plugin("sentry"), max_wait=max_wait, sleep=Sleeps(), clock=clock)

    yield build


async def _all(api: SentryApi, period: str = "24h") -> list[dict]:
    return [issue async for page in api.issues(period) for issue in page]


async def test_pages_follow_the_link_header_cursor_and_never_its_host(api):
    fake = FakeSentry()
    for number in range(250):
        fake.add_issue(str(1000 + number), last_seen=fake.now - timedelta(minutes=number))
    client = api(fake)
    issues = await _all(client)
    assert [issue["id"] for issue in issues] == [str(1000 + number) for number in range(250)]
    lists = fake.calls("GET", "/issues/")
    assert [call[2].get("cursor") for call in lists] == [None, ["0:100:0"], ["0:200:0"]]
    # Every status (an empty query), last seen first, in the window.
    assert all(call[2]["query"] == [""] and call[2]["statsPeriod"] == ["24h"] and call[2]["sort"] == ["date"]
               for call in lists)


async def test_the_window_and_the_project_filter(api):
    fake = FakeSentry()
    fake.add_issue("1", last_seen=fake.now - timedelta(hours=1))
    fake.add_issue("2", last_seen=fake.now - timedelta(hours=30))
    fake.add_issue("3", slug="other", project_id="7")
    client = api(fake)
    assert {issue["id"] for issue in await _all(client)} == {"1", "3"}
    project = await client.project_id("other")
    assert [issue["id"] async for page in client.issues("24h", project) for issue in page] == ["3"]


# Sentry's Link header, as src/sentry/api/base.py builds it (LINK_HEADER =
# '<{uri}&cursor={cursor}>; rel="{name}"; results="{has_results}"; cursor="{cursor}"', the uri
# being the request's absolute path, "?" and its other query parameters urlencoded; "previous"
# then "next", joined by ", "): docs.sentry.io/api/pagination shows the same, e.g.
# <https://sentry.io/api/0/organizations/x/issues/?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"
CURSOR = st.builds("{}:{}:{}".format, st.integers(0, 2**41), st.integers(0, 10**6), st.sampled_from([0, 1]))
SLUG = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,49}", fullmatch=True)
QUERY = st.lists(st.tuples(st.sampled_from(["query", "statsPeriod", "project", "sort", "limit", "per_page"]),
                           st.text(max_size=40)), max_size=4)


@st.composite
def sentry_link_header(draw) -> tuple[str, str, bool, str, bool]:
    """(header, previous cursor, previous has results, next cursor, next has results)."""
    host = draw(st.sampled_from(["https://sentry.io", "https://us.sentry.io", "https://de.sentry.io",
                                 "http://sentry.internal:9000"]))
    path = draw(st.sampled_from(["/api/0/organizations/{}/issues/", "/api/0/projects/{0}/{0}/releases/",
                                 "/api/0/organizations/{}/issues/123456/events/"])).format(draw(SLUG))
    uri = f"{host}{path}?{urlencode(draw(QUERY))}"
    previous, following = draw(CURSOR), draw(CURSOR)
    more_before, more_after = draw(st.booleans()), draw(st.booleans())

    def link(cursor: str, rel: str, results: bool) -> str:
        return f'<{uri}&cursor={cursor}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'

    header = f'{link(previous, "previous", more_before)}, {link(following, "next", more_after)}'
    return header, previous, more_before, following, more_after


def test_next_cursor_of_the_documented_example():
    header = ('<https://sentry.io/api/0/organizations/x/issues/?&cursor=0:100:0>; rel="previous"; results="false"; '
              'cursor="0:0:1", <https://sentry.io/api/0/organizations/x/issues/?&cursor=0:100:0>; rel="next"; '
              'results="true"; cursor="0:100:0"')
    assert next_cursor(header) == "0:100:0"


@given(sentry_link_header())
def test_a_real_link_header_gives_the_next_cursor_exactly_when_sentry_has_more(real):
    header, previous, _more_before, following, more_after = real
    cursor = next_cursor(header)
    assert cursor == (following if more_after else None)
    # Whatever the previous link says (and even when it has the same cursor), it is never taken.
    swapped = header.replace(f'cursor="{previous}"', 'cursor="9:9:9"', 1)
    assert next_cursor(swapped) == (following if more_after else None)


@given(sentry_link_header(), st.data())
def test_a_real_link_header_cut_or_spliced_never_raises_or_invents(real, data):
    header, _previous, _more_before, following, more_after = real
    cut = data.draw(st.integers(0, len(header)))
    junk = data.draw(st.text(max_size=40))
    for hostile in (header[:cut], header[:cut] + junk + header[cut:], junk + header, header.upper()):
        cursor = next_cursor(hostile)
        # A cursor is only ever a quoted cursor="..." value the header holds: never a URL, never invented.
        assert cursor is None or (f'cursor="{cursor}"' in hostile and '"' not in cursor)
    assert next_cursor(header[:cut]) in (None, following if more_after else None)


@given(st.text(max_size=300))
def test_any_text_as_a_link_header_never_raises(header):
    cursor = next_cursor(header)
    assert cursor is None or (isinstance(cursor, str) and cursor in header)


def test_next_cursor_reads_sentrys_documented_header():
    header = ('<https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:0:1>; rel="previous"; '
              'results="false"; cursor="0:0:1", <https://sentry.io/api/0/organizations/acme/issues/123456/events/'
              '?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"')
    assert next_cursor(header) == "0:100:0"
    assert next_cursor(header.replace('results="true"', 'results="false"')) is None


@pytest.mark.parametrize("status, words", [
    (401, "Sentry refused the token (HTTP 401 (Invalid token))"),
    (403, "not allowed to (HTTP 403 (You do not have permission to perform this action.)); the integration needs "
          "the permission that grants event:read"),
    (404, "not found in Sentry (HTTP 404 (The requested resource does not exist)); check the organisation 'chipp'"),
])
async def test_refusals_say_what_to_fix_and_never_the_token(api, status, words):
    fake = FakeSentry()
    fake.fail_next(status, "/issues/")
    with pytest.raises(SentryError) as raised:
        await _all(api(fake))
    assert words in str(raised.value) and str(raised.value).startswith("cannot list the organisation's issues")
    assert TOKEN not in str(raised.value) and raised.value.status == status


async def test_an_error_page_instead_of_json_is_named(api):
    fake = FakeSentry()
    fake.fail_next(200, "/issues/", body=b"<html>Sign in</html>", headers={"content-type": "text/html"})
    with pytest.raises(SentryError, match="HTTP 200 with text/html, not JSON"):
        await _all(api(fake))
    fake.fail_next(502, "/issues/", body=b"<html>Bad gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(SentryUnavailable, match="HTTP 502"):
        await _all(api(fake))


async def test_429_waits_for_retry_after_then_goes_on(api):
    fake = FakeSentry()
    fake.add_issue("1")
    fake.fail_next(429, "/issues/", headers={"retry-after": "7", "x-sentry-rate-limit-remaining": "0",
                                             "x-sentry-rate-limit-limit": "40"})
    client = api(fake)
    assert [issue["id"] for issue in await _all(client)] == ["1"]
    assert client.sleep.slept == [7.0]


async def test_429_without_retry_after_waits_for_the_windows_reset(api):
    fake = FakeSentry()
    fake.add_issue("1")
    fake.fail_next(429, "/issues/", headers={"x-sentry-rate-limit-reset": str(1_000_000 + 12)})
    client = api(fake)
    await _all(client)
    assert client.sleep.slept == [12.0]


async def test_429_longer_than_the_caller_may_wait_is_raised_with_the_wait(api):
    fake = FakeSentry()
    fake.fail_next(429, "/external-issues/", headers={"retry-after": "90"})
    with pytest.raises(RateLimited) as raised:
        await api(fake, max_wait=0).link_external_issue(INSTALLATION, "1", "https://hub/issues/X-1", "hub", "X-1")
    assert raised.value.after_seconds == 90.0 and "Sentry's rate limit" in str(raised.value)


async def test_a_used_up_window_waits_for_its_reset_before_the_next_page(api):
    fake = FakeSentry()
    for number in range(150):
        fake.add_issue(str(number))
    fake.rate_headers = {"x-sentry-rate-limit-remaining": "0", "x-sentry-rate-limit-reset": str(1_000_000 + 3)}
    client = api(fake)
    assert len(await _all(client)) == 150
    assert client.sleep.slept == [3.0] and client.remaining == 0


def test_retry_after_as_an_http_date():
    headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"})
    assert wait_seconds(headers, 1445412480.0) == 30.0


async def test_scopes_external_issues_and_updates(api):
    fake = FakeSentry()
    fake.add_issue("1")
    client = api(fake)
    assert await client.scopes() == ["event:read", "event:write", "event:admin", "project:read"]
    made = await client.link_external_issue(INSTALLATION, "1", "https://hub.example.com/issues/CHIPP-1", "hub", "CHIPP-1")
    assert made["displayName"] == "hub#CHIPP-1" and made["webUrl"] == "https://hub.example.com/issues/CHIPP-1"
    again = await client.link_external_issue(INSTALLATION, "1", "https://hub.example.com/issues/CHIPP-1", "hub", "CHIPP-1")
    assert again["id"] == made["id"] and len(fake.external) == 1
    await client.delete_external_issue(INSTALLATION, made["id"])
    assert fake.external == {}
    await client.delete_external_issue(INSTALLATION, made["id"])  # already gone: fine
    await client.update_issue("1", {"status": "resolved"})
    assert fake.issues["1"]["status"] == "resolved"
    assert fake.calls("PUT")[0][1] == f"/api/0/organizations/{ORG}/issues/1/"


async def test_a_429_asking_for_no_wait_still_counts_a_second_and_never_loops(api):
    fake = FakeSentry()
    fake.add_issue("1")
    for _ in range(10):
        fake.fail_next(429, "/issues/", headers={"retry-after": "0"})
    client = api(fake, max_wait=3)
    with pytest.raises(RateLimited) as raised:
        await _all(client)
    assert client.sleep.slept == [1.0, 1.0, 1.0] and raised.value.after_seconds == 1.0
    assert len(fake.calls("GET", "/issues/")) == 4
    never = api(fake, max_wait=0)  # where nothing may be waited: one question, then the answer
    with pytest.raises(RateLimited):
        await _all(never)
    assert never.sleep.slept == [] and len(fake.calls("GET", "/issues/")) == 5


def test_a_rate_limit_is_the_hosts_retry_at_sentrys_time():
    retry = RateLimited("cannot list: Sentry's rate limit (HTTP 429); try again in 42 s", 42.0).retry_later()
    assert isinstance(retry, RetryLater) and retry.after_seconds == 42.0 and retry.until is None
    assert retry.reason == "cannot list: Sentry's rate limit (HTTP 429); try again in 42 s"


def test_the_client_needs_a_token_and_an_organisation(settings):
    for env in ({}, {"SENTRY_AUTH_TOKEN": TOKEN}, {"SENTRY_ORG": ORG}):
        with pytest.raises(SentryError, match="needs SENTRY_AUTH_TOKEN and SENTRY_ORG"):
            SentryApi(httpx.AsyncClient(), settings(env=env).plugin("sentry"))
