"""Sentry's REST API, the few calls the plugin makes: its errors in words, its pages, its rate limits.

Every answer Sentry gives is checked before it is believed: 401 (the token is wrong or revoked),
403 (the token lacks a scope), 404 (an unknown organisation, project or issue), 429 (rate
limited), 5xx and answers that are not JSON (an HTML error page from a proxy) each end in a
:class:`SentryError` whose message says what to do, never with the token in it.

Pages follow the ``Link`` header (``<...>; rel="next"; results="true"; cursor="0:100:0"``): only
the cursor is taken from it, and the next request goes to the configured API with the same
path, so a header can never send the token to another host. A 429 is waited out by its
``Retry-After`` (seconds or an HTTP date), else by ``X-Sentry-Rate-Limit-Reset`` (epoch seconds),
when the wait fits ``max_wait``; a page that leaves ``X-Sentry-Rate-Limit-Remaining: 0`` waits
for the reset before the next request.

Every call the plugin makes to Sentry goes through :class:`SentryApi`, so each of these checks has
one definition. Each caller says how long a rate limit may cost it (``max_wait``) and, where a
person is waiting, how long Sentry may take to answer (``timeout``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import quote

import httpx

from hub import RetryLater, clean_text

from hub_sentry.settings import SentrySettings

__all__ = [
    "RateLimited", "SentryApi", "SentryError", "SentryUnavailable", "next_cursor", "wait_seconds",
]

log = logging.getLogger("hub.sentry.api")

#: Longest pause a 429 or an exhausted window may cost before the call gives up instead.
DEFAULT_MAX_WAIT = 120.0
#: The shortest wait a 429 stands for (Sentry's rate-limit windows are a second or longer).
MIN_WAIT = 1.0
#: Sentry's largest page of issues.
PAGE_SIZE = 100
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[a-zA-Z]+\s*=\s*"[^"]*")*)')
_PARAM = re.compile(r'([a-zA-Z]+)\s*=\s*"([^"]*)"')


class SentryError(Exception):
    """A call to Sentry's API failed; the message says why in words an operator can act on."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SentryUnavailable(SentryError):
    """Sentry did not answer, or answered 5xx: worth trying again later."""


class RateLimited(SentryError):
    """Sentry answered 429 and the wait it asks for is longer than the caller may wait."""

    def __init__(self, message: str, after_seconds: float) -> None:
        super().__init__(message, 429)
        self.after_seconds = after_seconds

    def retry_later(self) -> RetryLater:
        """The host's retry for a job that met this limit: run again when Sentry says it may."""
        return RetryLater(str(self), after_seconds=self.after_seconds)


def next_cursor(link_header: str | None) -> str | None:
    """The cursor of the ``rel="next"`` link when Sentry says it has results, else None."""
    for match in _LINK.finditer(link_header or ""):
        params = {name.lower(): value for name, value in _PARAM.findall(match.group(2))}
        if params.get("rel") == "next":
            return params.get("cursor") if params.get("results") == "true" and params.get("cursor") else None
    return None


def wait_seconds(headers: httpx.Headers, now: float) -> float | None:
    """How long a 429 asks to wait: ``Retry-After`` (seconds or an HTTP date), else the window's
    reset (``X-Sentry-Rate-Limit-Reset``, epoch seconds); None when neither says."""
    retry_after = (headers.get("retry-after") or "").strip()
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
        try:
            moment = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return max(0.0, moment.timestamp() - now)
    return _reset_in(headers, now)


def _reset_in(headers: httpx.Headers, now: float) -> float | None:
    try:
        return max(0.0, float(headers.get("x-sentry-rate-limit-reset", "")) - now)
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    """Sentry's own reason (``{"detail": "..."}``), cut and cleaned: it goes into log lines."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, Mapping) else body if isinstance(body, str) else None
    if isinstance(detail, Mapping):  # SentryAPIException: {"detail": {"code": ..., "message": ...}}
        detail = detail.get("message") or detail.get("code")
    return clean_text(detail)[:200] if isinstance(detail, str) else ""


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the cursor of the next page (None: the last)."""

    items: list[Any]
    cursor: str | None


class SentryApi:
    """Calls to ``{api_url}/api/0/...`` with the integration's token.

    ``max_wait``: the longest a rate limit may be waited out in this call (0 in the worker, which
    raises RateLimited and lets the job be retried at the time Sentry names; 0 where a browser
    waits, which falls back at once). Needs ``settings.api_ready`` (a token and an organisation).
    """

    def __init__(self, http: httpx.AsyncClient, settings: SentrySettings, *, max_wait: float = DEFAULT_MAX_WAIT,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        # (auth_token is None is implied by api_ready; said again for the type checker.)
        if not settings.api_ready or settings.auth_token is None:
            raise SentryError("Sentry's API needs SENTRY_AUTH_TOKEN and SENTRY_ORG (or [sentry] organization)")
        self.http = http
        self.settings = settings
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self._token = settings.auth_token.get_secret_value()
        #: When the current rate-limit window ends, once a page left nothing in it.
        self._paused_until: float | None = None
        #: The last answer's X-Sentry-Rate-Limit-Remaining (for the summary), when Sentry sent one.
        self.remaining: int | None = None

    @property
    def organization(self) -> str:
        """The configured organisation slug (``[sentry] organization`` / SENTRY_ORG), path-quoted."""
        return quote(self.settings.organization or "", safe="")

    async def request(self, method: str, path: str, *, what: str, params: Mapping[str, Any] | None = None,
                      json: Any = None, scope: str | None = None, timeout: float | None = None) -> httpx.Response:
        """One call, its failures in words (``what`` names the call: "list the issues"; ``scope`` the
        token scope it needs, said on a 403). Waits out a rate limit when it fits ``max_wait``.
        ``timeout``: seconds Sentry gets to answer this call (None: the HTTP client's own)."""
        limit: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        waited = 0.0
        while True:
            await self._respect_window()
            try:
                response = await self.http.request(
                    method, f"{self.settings.api_url}{path}", params=params, json=json,
                    headers={"Authorization": f"Bearer {self._token}"}, timeout=limit)
            except httpx.HTTPError as exc:
                raise SentryUnavailable(f"cannot {what}: Sentry at {self.settings.api_url} did not answer "
                                        f"({type(exc).__name__})") from None
            self._note_window(response)
            if response.status_code != 429:
                return self._checked(response, what, scope)
            delay = wait_seconds(response.headers, self.clock())
            # At least MIN_WAIT: "Retry-After: 0", or a reset already past on this clock, would
            # otherwise ask again at once and forever, even where nothing may be waited (max_wait 0).
            delay = MIN_WAIT if delay is None else max(MIN_WAIT, delay)
            if waited + delay > self.max_wait:
                raise RateLimited(f"cannot {what}: Sentry's rate limit (HTTP 429: {_detail(response) or 'too many requests'}); "
                                  f"try again in {delay:.0f} s", delay)
            log.warning("[Sentry API] Rate limited while trying to %s: waiting %.1f s", what, delay)
            waited += delay
            await self.sleep(delay)

    def _checked(self, response: httpx.Response, what: str, scope: str | None) -> httpx.Response:
        status = response.status_code
        detail = _detail(response)
        said = f" ({detail})" if detail else ""
        if status == 401:
            raise SentryError(f"cannot {what}: Sentry refused the token (HTTP 401{said}); SENTRY_AUTH_TOKEN is wrong, "
                              f"revoked, or of another Sentry", status)
        if status == 403:
            need = f"; the integration needs the permission that grants {scope}" if scope else ""
            raise SentryError(f"cannot {what}: the token is not allowed to (HTTP 403{said}){need}", status)
        if status == 404:
            raise SentryError(f"cannot {what}: not found in Sentry (HTTP 404{said}); check the organisation "
                              f"{self.settings.organization!r} and that the integration is installed in it", status)
        if status >= 500:
            raise SentryUnavailable(f"cannot {what}: Sentry answered HTTP {status}", status)
        if status >= 400:
            raise SentryError(f"cannot {what}: Sentry answered HTTP {status}{said}", status)
        if status != 204 and not _is_json(response):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise SentryError(f"cannot {what}: Sentry answered HTTP {status} with {kind}, not JSON (is "
                              f"{self.settings.api_url} Sentry's API, or a proxy's page?)", status)
        return response

    def _note_window(self, response: httpx.Response) -> None:
        try:
            self.remaining = int(response.headers["x-sentry-rate-limit-remaining"])
        except (KeyError, ValueError):
            return
        if self.remaining <= 0 and response.status_code != 429:
            reset = _reset_in(response.headers, self.clock())
            if reset is not None:
                self._paused_until = self.clock() + reset

    async def _respect_window(self) -> None:
        if self._paused_until is None:
            return
        delay, self._paused_until = self._paused_until - self.clock(), None
        if delay <= 0:
            return
        if delay > self.max_wait:
            raise RateLimited(f"Sentry's rate-limit window is used up; it resets in {delay:.0f} s", delay)
        log.info("[Sentry API] Rate-limit window used up: waiting %.1f s for its reset", delay)
        await self.sleep(delay)

    async def json(self, method: str, path: str, *, what: str, scope: str | None = None, **kw: Any) -> Any:
        """The JSON answer of one call (None for 204); ``kw`` as :meth:`request` takes them."""
        response = await self.request(method, path, what=what, scope=scope, **kw)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise SentryError(f"cannot {what}: Sentry's answer is not valid JSON", response.status_code) from None

    async def page(self, path: str, params: Mapping[str, Any], *, what: str, scope: str | None = None) -> Page:
        """One page of a list endpoint (``params`` include the cursor, when not the first)."""
        response = await self.request("GET", path, params=params, what=what, scope=scope)
        try:
            items = response.json()
        except ValueError:
            raise SentryError(f"cannot {what}: Sentry's answer is not valid JSON", response.status_code) from None
        if not isinstance(items, list):
            raise SentryError(f"cannot {what}: Sentry answered a {type(items).__name__}, not a list")
        return Page(items, next_cursor(response.headers.get("link")))

    async def pages(self, path: str, params: Mapping[str, Any], *, what: str,
                    scope: str | None = None) -> AsyncIterator[list[Any]]:
        """Every page of a list endpoint, following the Link header's next cursor."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.page(path, {**params, **({"cursor": cursor} if cursor else {})}, what=what, scope=scope)
            yield page.items
            if page.cursor is None or page.cursor in seen:  # a cursor met twice would loop forever
                return
            seen.add(page.cursor)
            cursor = page.cursor

    # The calls the plugin makes -------------------------------------------------------------

    async def scopes(self) -> list[str] | None:
        """The token's scopes, as Sentry's API index says them (``GET /api/0/`` answers
        ``{"auth": {"scopes": [...]}}`` for a token); None when it does not say."""
        index = await self.json("GET", "/api/0/", what="read the token's scopes")
        auth = index.get("auth") if isinstance(index, Mapping) else None
        scopes = auth.get("scopes") if isinstance(auth, Mapping) else None
        return [scope for scope in scopes if isinstance(scope, str)] if isinstance(scopes, list) else None

    async def project_id(self, slug: str) -> str:
        """The numeric id of project ``slug`` (the issue list filters by id)."""
        project = await self.json("GET", f"/api/0/projects/{self.organization}/{quote(slug, safe='')}/",
                                  what=f"read the project {slug!r}", scope="project:read")
        found = project.get("id") if isinstance(project, Mapping) else None
        if not isinstance(found, (str, int)) or isinstance(found, bool):
            raise SentryError(f"cannot read the project {slug!r}: Sentry's answer has no id")
        return str(found)

    def issues(self, stats_period: str, project_id: str | None = None) -> AsyncIterator[list[Any]]:
        """Pages of the organisation's issues seen within ``stats_period`` (``24h``, ``7d``), any status,
        last seen first."""
        # An empty query is every status: without it Sentry applies is:unresolved.
        params: dict[str, Any] = {"query": "", "statsPeriod": stats_period, "sort": "date", "limit": PAGE_SIZE}
        if project_id is not None:
            params["project"] = project_id
        return self.pages(f"/api/0/organizations/{self.organization}/issues/", params,
                          what="list the organisation's issues", scope="event:read")

    async def latest_event(self, issue_id: str) -> Mapping[str, Any]:
        """The latest event of issue ``issue_id`` (its ``entries`` carry the stack frames)."""
        # The id comes from a delivery: quoted, it cannot steer the token to another API path.
        event = await self.json("GET", f"/api/0/organizations/{self.organization}/issues/"
                                       f"{quote(issue_id, safe='')}/events/latest/",
                                what=f"read the latest event of issue {issue_id}", scope="event:read")
        return event if isinstance(event, Mapping) else {}

    async def newest_release(self, project: str, *, timeout: float | None = None) -> Mapping[str, Any] | None:
        """The newest release of project ``project`` (Sentry lists them newest first), None when it has none."""
        releases = await self.json("GET", f"/api/0/projects/{self.organization}/{quote(project, safe='')}/releases/",
                                   params={"per_page": 1}, timeout=timeout,
                                   what=f"read the newest release of {project}", scope="project:read")
        newest = releases[0] if isinstance(releases, list) and releases else None
        return newest if isinstance(newest, Mapping) else None

    async def update_issue(self, issue_id: str, body: Mapping[str, Any]) -> Any:
        """``PUT`` an issue's status or assignee (needs ``event:write``)."""
        return await self.json("PUT", f"/api/0/organizations/{self.organization}/issues/{quote(issue_id, safe='')}/",
                               json=dict(body), what=f"update Sentry issue {issue_id}", scope="event:write")

    async def link_external_issue(self, installation: str, issue_id: str, web_url: str, project: str,
                                  identifier: str) -> Mapping[str, Any]:
        """Create (or update: Sentry keys it by issue and installation) the external issue that links a
        Sentry issue to the hub's; the answer carries Sentry's ``id`` for it."""
        try:
            number = int(issue_id)
        except ValueError:
            raise SentryError(f"cannot link Sentry issue {issue_id!r}: not a numeric issue id") from None
        made = await self.json(
            "POST", f"/api/0/sentry-app-installations/{quote(installation, safe='')}/external-issues/",
            json={"issueId": number, "webUrl": web_url, "project": project, "identifier": identifier},
            what=f"link Sentry issue {issue_id} to {identifier}", scope="event:write")
        if not isinstance(made, Mapping) or not isinstance(made.get("id"), (str, int)):
            raise SentryError(f"cannot link Sentry issue {issue_id}: Sentry's answer has no id")
        return made

    async def delete_external_issue(self, installation: str, external_issue_id: str) -> None:
        """Remove the link (needs ``event:admin``); one already gone counts as removed."""
        try:
            await self.request(
                "DELETE", f"/api/0/sentry-app-installations/{quote(installation, safe='')}/external-issues/"
                          f"{quote(external_issue_id, safe='')}/",
                what=f"remove the external issue {external_issue_id}", scope="event:admin")
        except SentryError as exc:
            if exc.status != 404:
                raise


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")
