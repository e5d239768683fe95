"""GitHub REST calls over the host's HTTP client: headers, rate limits, ETags and Link pagination.

Rate limits become :class:`hub.RetryLater` so the host waits exactly as long as GitHub asks;
every other failure is a :class:`GitHubError` whose message names the request, never the token.
Every request, the correlation's reads and the issue mirror's calls alike, takes one path
(``GitHubClient._request``): the token's budget (hub_github.pacing: GitHub's secondary limits and
the hour's reserve), the answer's rate-limit headers, the mapping of failures. Concurrent
identical reads share one call (hub_github.flight).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from weakref import WeakKeyDictionary

import httpx

from hub import GiveUp, RetryLater, Unavailable
from hub import Cache

from hub_github.flight import SingleFlight
from hub_github.pacing import READ_POINTS, WRITE_POINTS, Budget, budget_for, header_int, token_key
from hub_github.settings import GithubSettings

__all__ = ["ETAG_NAMESPACE", "GitHubClient", "GitHubError", "GitHubRefused", "GitHubUnavailable", "rate_limit_retry"]

log = logging.getLogger("hub.github")

USER_AGENT = "hub-github/0.1"
API_VERSION = "2022-11-28"
ETAG_NAMESPACE = "github.etag"
# List URLs embed the error's window, so an ETag is only worth keeping for re-runs of one issue
# (retries, re-enrichment) and for the window-free deployment list.
ETAG_TTL_SECONDS = 7 * 24 * 3600
# GitHub's advice when a secondary limit names no time: wait at least a minute.
SECONDARY_WAIT_SECONDS = 60.0

_HINTS = {
    401: "check GITHUB_TOKEN",
    403: "the token may lack read access to Contents or Deployments",
    404: "check the repository name and that the token can read it",
}


class GitHubError(Exception):
    """A GitHub request failed for a reason other than a rate limit (retried with backoff)."""


class GitHubUnavailable(GitHubError, Unavailable):
    """GitHub could not be reached or answered 5xx: an outage, waited out without using up attempts."""


class GitHubRefused(GitHubError, GiveUp):
    """GitHub refused a write for good (404 no such repository or issue, 410 gone or issues turned
    off, 422 invalid): the job fails at once instead of retrying."""


#: Answers to a write that no retry can change.
_REFUSED = (404, 410, 422)
_WRITE_HINTS = {
    401: "check GITHUB_TOKEN",
    403: "the token needs Issues: Read and write on the repository (classic token: the repo scope)",
    404: "check [github.issues] repo and that the token can see it",
    410: "the issue was deleted, or issues are turned off in the repository",
    422: "GitHub refused the request as invalid",
}


@dataclass(frozen=True)
class _Answers:
    """How one kind of caller reads GitHub's answers: the hints its messages give, the statuses
    that end its job (GitHubRefused), whether a redirect is followed."""

    hints: Mapping[int, str]
    refused: tuple[int, ...]
    follow_redirects: bool


#: The correlation's and the links' reads. Renamed repositories answer 301; httpx drops
#: Authorization on a cross-origin hop.
_READS = _Answers(_HINTS, (), follow_redirects=True)
#: The issue mirror's calls: a write must not be replayed against another URL.
_MIRROR = _Answers(_WRITE_HINTS, _REFUSED, follow_redirects=False)
#: Methods that read: GitHub counts them 1 point of its minute, anything else 5.
_READ_METHODS = ("GET", "HEAD", "OPTIONS")


def rate_limit_retry(response: httpx.Response) -> RetryLater | None:
    """Return the RetryLater a 403/429 rate-limit answer calls for; None for any other answer.

    Order follows GitHub's guidance: ``retry-after`` first, then an exhausted primary limit
    (``x-ratelimit-remaining: 0``) until ``x-ratelimit-reset``, else a secondary limit: one minute.
    """
    if response.status_code not in (403, 429):
        return None
    what = f"{response.request.method} {response.request.url.path}"
    headers = response.headers
    retry_after = header_int(headers.get("retry-after"))
    if retry_after is not None:
        return RetryLater(f"GitHub secondary rate limit on {what}: retry after {retry_after}s",
                          after_seconds=float(retry_after))
    if headers.get("x-ratelimit-remaining") == "0":
        reset = header_int(headers.get("x-ratelimit-reset"))
        if reset is not None:
            until = datetime.fromtimestamp(reset, timezone.utc)
            return RetryLater(f"GitHub rate limit exhausted on {what} until {until:%Y-%m-%dT%H:%M:%SZ}",
                              until=until)
        return RetryLater(f"GitHub rate limit exhausted on {what} (no reset time given)",
                          after_seconds=SECONDARY_WAIT_SECONDS)
    message = _message(response).lower()
    if response.status_code == 429 or "rate limit" in message or "abuse" in message:
        return RetryLater(f"GitHub secondary rate limit on {what}", after_seconds=SECONDARY_WAIT_SECONDS)
    return None


#: Per event loop (a future belongs to one): the calls in flight of each token.
_FLIGHTS: WeakKeyDictionary[asyncio.AbstractEventLoop, SingleFlight] = WeakKeyDictionary()


def flights() -> SingleFlight:
    """The calls to GitHub in flight in this process (its running event loop)."""
    return _FLIGHTS.setdefault(asyncio.get_running_loop(), SingleFlight())


class GitHubClient:
    """Authenticated requests against one GitHub API base (github.com or Enterprise).

    ``max_concurrent``: requests at once of this process with this token ([github]
    max_concurrent_requests); clients of one token share it, whoever made them.
    ``write_interval``: seconds from the end of one write of the token to the start of its next ([github.issues]
    min_write_interval_seconds), paced by the token's budget whichever client sends them.
    """

    def __init__(self, http: httpx.AsyncClient, *, api_url: str, token: str, cache: Cache,
                 max_concurrent: int | None = None, write_interval: float | None = None) -> None:
        self._http = http
        self._api_url = api_url.rstrip("/")
        self._origin = httpx.URL(self._api_url).copy_with(path="/", query=None)
        self._cache = cache
        self._key = token_key(self._api_url, token)
        self._max_concurrent = max_concurrent or GithubSettings().max_concurrent_requests
        self._write_interval = GithubSettings().issues.min_write_interval_seconds if write_interval is None \
            else write_interval
        self._headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }

    @classmethod
    def for_settings(cls, settings: GithubSettings, http: httpx.AsyncClient, cache: Cache) -> "GitHubClient":
        """The client ``[github]`` describes: its API URL, its token (set: callers check first), its
        ``max_concurrent_requests`` and ``[github.issues] min_write_interval_seconds``."""
        return cls(http, api_url=settings.api_url, token=settings.token.get_secret_value(), cache=cache,
                   max_concurrent=settings.max_concurrent_requests,
                   write_interval=settings.issues.min_write_interval_seconds)

    def _budget(self) -> Budget:
        return budget_for(self._key, self._max_concurrent)

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/repos/o/r/commits``."""
        return self._api_url + path

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path and return its JSON body."""
        return _json(await self._get(self.url(path), params))

    async def coalesced(self, key: Hashable, call: Callable[[], Awaitable[Any]]) -> Any:
        """``await call()``, shared with every concurrent caller of ``key`` with this token."""
        return await flights().run((self._key, key), call)

    async def get_conditional(
        self, path: str, params: Mapping[str, Any], keep: Callable[[Any], Any]
    ) -> Any:
        """GET with ``If-None-Match``; a 304 returns what was kept from the last 200.

        ``keep`` reduces the body to what the caller uses; that reduction is what the cache
        stores (under the full URL, query included) and what is returned either way.
        Concurrent callers of one URL (and ``keep``) share one request.
        """
        url = str(httpx.URL(self.url(path), params=params))
        return await self.coalesced(("conditional", url, keep), lambda: self._get_conditional(url, keep))

    async def _get_conditional(self, url: str, keep: Callable[[Any], Any]) -> Any:
        cached = await self._cache.get(ETAG_NAMESPACE, url)
        headers = {"If-None-Match": cached["etag"]} if cached else {}
        response = await self._get(url, None, headers)
        if response.status_code == 304 and cached:
            return cached["body"]
        kept = keep(_json(response))
        etag = response.headers.get("etag")
        if etag:
            await self._cache.set(ETAG_NAMESPACE, url, {"etag": etag, "body": kept}, ETAG_TTL_SECONDS)
        return kept

    async def get_pages(self, path: str, max_pages: int) -> tuple[list[Any], bool]:
        """GET an API path and follow its ``Link: rel="next"`` pages, at most ``max_pages`` in all.

        Returns the JSON bodies and whether the last page was reached.
        """
        bodies: list[Any] = []
        url: str | None = self.url(path)
        while url is not None and len(bodies) < max_pages:
            response = await self._get(url, None)
            bodies.append(_json(response))
            url = response.links.get("next", {}).get("url")
            if url is not None and not self._same_origin(url):
                # The token goes with every request: never to a host other than api_url's.
                log.warning("[GitHub] Not following a pagination link to another host: %s",
                            httpx.URL(url).host)
                return bodies, False
        return bodies, url is None

    def _same_origin(self, url: str) -> bool:
        other = httpx.URL(url)
        return (other.scheme, other.host, other.port) == (
            self._origin.scheme, self._origin.host, self._origin.port)

    async def send(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                   params: Mapping[str, Any] | None = None) -> httpx.Response:
        """``method`` on an API path with a JSON ``body`` (writes of the issue mirror, and its reads).

        Writes go one at a time, ``write_interval`` apart (the token's budget). Rate limits raise RetryLater
        and outages GitHubUnavailable, as for the correlation's reads; 404, 410 and 422 raise
        GitHubRefused; any other failure GitHubError. Redirects are not followed: a write must
        not be replayed against another URL.
        """
        return await self._request(method, self.url(path), _MIRROR, params=params, body=body)

    async def _get(
        self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self._request("GET", url, _READS, params=params, headers=headers)

    async def _request(self, method: str, url: str, answers: _Answers, *, params: Mapping[str, Any] | None = None,
                       body: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Every request to GitHub: within the token's budget (a write also waits its pace), whose
        primary limit each answer updates; a rate-limit answer raises RetryLater, an outage GitHubUnavailable, a refusal
        (``answers.refused``) GitHubRefused, any other failure GitHubError."""
        budget = self._budget()
        try:
            async with budget.request(READ_POINTS if method in _READ_METHODS else WRITE_POINTS,
                                      write_interval=self._write_interval):
                response = await self._http.request(
                    method, url, params=params, json=body, headers={**self._headers, **(headers or {})},
                    follow_redirects=answers.follow_redirects)
        except httpx.HTTPError as exc:
            raise GitHubUnavailable(f"GitHub request {method} {httpx.URL(url).path} failed: "
                                    f"{type(exc).__name__}: {exc}") from None
        budget.note(response.headers)
        retry = rate_limit_retry(response)
        if retry is not None:
            raise retry
        if response.status_code == 304 and headers and "If-None-Match" in headers:
            return response
        if response.status_code >= 500:
            raise GitHubUnavailable(_failure(response, answers.hints))
        if response.status_code in answers.refused:
            raise GitHubRefused(_failure(response, answers.hints))
        if not response.is_success:
            raise GitHubError(_failure(response, answers.hints))
        return response


def _failure(response: httpx.Response, hints: Mapping[int, str] = _HINTS) -> str:
    text = f"GitHub answered {response.status_code} to {response.request.method} {response.request.url.path}"
    message = _message(response)
    if message:
        text += f": {message}"
    hint = hints.get(response.status_code)
    return f"{text} ({hint})" if hint else text


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GitHubError(
            f"GitHub answered GET {response.request.url.path} with a body that is not JSON"
        ) from None


def _message(response: httpx.Response) -> str:
    """GitHub's ``message`` field of an error body, or "" when there is none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if message and isinstance(body.get("errors"), list):
        # 422 names what was invalid: {"resource": "Issue", "field": "assignees", "code": "invalid"}
        details = [" ".join(f"{key}={item[key]}" for key in ("resource", "field", "code", "value", "message")
                            if isinstance(item, dict) and item.get(key) is not None)
                   for item in body["errors"][:3]]
        details = [detail for detail in details if detail]
        if details:
            message = f"{message} ({'; '.join(details)})"
    return " ".join(str(message).split())[:300] if message else ""

