"""A fake Sentry REST API at the transport (httpx.MockTransport), answering with Sentry's own shapes.

Every body comes from ``fixtures/api`` (its README says where each came from); the fake keeps
issues, their status and assignee, their latest events, projects' releases and the external
issues made, and pages lists with the
``Link`` header exactly as Sentry's pagination documentation shows it. ``fail_next`` queues an
error answer (401, 403, 404, 429 with its headers, or an HTML page) for the next matching call.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

API = Path(__file__).parent / "fixtures" / "api"
#: Sentry's API documentation's latest event of an issue (fixtures/README.md).
LATEST_EVENT = API.parent / "api-issue-latest-event.json"
ORG = "chipp"
TOKEN = "sntrys_fakeIntegrationToken0123456789"
INSTALLATION = "7a485448-a9e2-4c85-8a3c-4f44175783c9"
APP_UUID = "64bf2cf4-37ca-4365-8dd3-6b6e56d741b8"
_PERIOD = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def fixture(name: str) -> Any:
    """A recorded answer's body."""
    return json.loads((API / name).read_text())


def iso(moment: datetime) -> str:
    """A time as Sentry's API renders it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Failure:
    status: int
    body: bytes
    headers: dict[str, str]
    path: str


@dataclass
class FakeSentry:
    """The organisation ``ORG`` with its issues; ``requests`` records every call (method, path, params, body)."""

    scopes: list[str] = field(default_factory=lambda: ["event:read", "event:write", "event:admin", "project:read"])
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    external: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The latest event of an issue, by issue id (``add_event``).
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A project's releases, newest first, by project slug (``add_release``).
    releases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rate_headers: dict[str, str] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def add_issue(self, issue_id: str, *, title: str | None = None, slug: str = "pump-station",
                  project_id: str = "2", status: str = "unresolved", substatus: str | None = "new",
                  first_seen: datetime | None = None, last_seen: datetime | None = None) -> dict[str, Any]:
        """A new issue made from the API reference's example issue."""
        issue = fixture("issue-list-item.json")
        seen = last_seen or self.now - timedelta(minutes=5)
        issue.update(id=issue_id, shortId=f"{slug.upper()}-{issue_id}", title=title or f"ValueError: broken #{issue_id}",
                     status=status, firstSeen=iso(first_seen or seen), lastSeen=iso(seen),
                     permalink=f"https://sentry.io/organizations/{ORG}/issues/{issue_id}/",
                     metadata={"type": "ValueError", "value": f"broken #{issue_id}", "filename": "app/views.py",
                               "function": "handler"})
        issue["project"] = {**issue["project"], "id": project_id, "slug": slug, "name": slug}
        if substatus is not None:
            issue["substatus"] = substatus
        self.issues[issue_id] = issue
        return issue

    def add_event(self, issue_id: str) -> dict[str, Any]:
        """The issue's latest event: the API documentation's example event, its ``groupID`` the issue's."""
        event = json.loads(LATEST_EVENT.read_text())
        event["groupID"] = issue_id
        self.events[issue_id] = event
        return event

    def add_release(self, slug: str, commit: str | None = None) -> dict[str, Any]:
        """A newest release of project ``slug`` (the recorded one, its ``lastCommit.id`` ``commit``
        when given; None keeps the recorded sha)."""
        release = fixture("project-releases.json")[0]
        if commit is not None:
            release["lastCommit"]["id"] = commit
        self.releases.setdefault(slug, []).insert(0, release)
        return release

    def fail_next(self, status: int, path: str = "", *, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next call whose path contains ``path`` with ``status`` (its recorded body)."""
        if body is None:
            name = {401: "error-401.json", 403: "error-403.json", 404: "error-404.json", 429: "error-429.json"}.get(status)
            body = (API / name).read_bytes() if name else b'{"detail": "Internal Error"}'
        # Django's HttpResponse (the 429 of Sentry's middleware) says text/html; DRF's errors are JSON.
        kind = "text/html; charset=utf-8" if status == 429 else "application/json"
        self.failures.append(Failure(status, body, {"content-type": kind, **(headers or {})}, path))

    def transport(self) -> httpx.MockTransport:
        """The transport to hand the hub's HTTP client."""
        return httpx.MockTransport(self.handle)

    def calls(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, dict, Any]]:
        """Recorded calls, optionally of one method and path fragment."""
        return [call for call in self.requests if (method is None or call[0] == method) and contains in call[1]]

    # --- the API ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Sentry would."""
        path = request.url.path
        params = parse_qs(urlsplit(str(request.url)).query, keep_blank_values=True)
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, params, body))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return self._json(401, fixture("error-401.json"))
        for failure in self.failures:
            if failure.path in path:
                self.failures.remove(failure)
                return httpx.Response(failure.status, content=failure.body, headers=failure.headers)
        if path == "/api/0/":
            return self._json(200, {**fixture("index-token.json"), "auth": {"scopes": list(self.scopes)}})
        org_issues = f"/api/0/organizations/{ORG}/issues/"
        if path == org_issues and request.method == "GET":
            return self._list(request, params)
        if path.startswith(org_issues) and request.method == "PUT":
            return self._update(path[len(org_issues):].strip("/"), body or {})
        if match := re.fullmatch(rf"{org_issues}([^/]+)/events/latest/", path):
            event = self.events.get(match.group(1))
            return self._json(200, copy.deepcopy(event)) if event else self._json(404, fixture("error-404.json"))
        if match := re.fullmatch(rf"/api/0/projects/{ORG}/([^/]+)/releases/", path):
            return self._releases(match.group(1), params)
        if match := re.fullmatch(rf"/api/0/projects/{ORG}/([^/]+)/", path):
            project = next((issue["project"] for issue in self.issues.values()
                            if issue["project"]["slug"] == match.group(1)), None)
            return self._json(200, project) if project else self._json(404, fixture("error-404.json"))
        if match := re.fullmatch(r"/api/0/sentry-app-installations/([^/]+)/external-issues/(?:([^/]+)/)?", path):
            return self._external(request.method, match.group(1), match.group(2), body or {})
        return self._json(404, fixture("error-404.json"))

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"content-type": "application/json", **self.rate_headers, **(headers or {})})

    def _list(self, request: httpx.Request, params: dict[str, list[str]]) -> httpx.Response:
        if params.get("query") != [""]:
            # Without an empty query Sentry lists only unresolved issues: the hub must ask for all.
            listed = [issue for issue in self.issues.values() if issue["status"] == "unresolved"]
        else:
            listed = list(self.issues.values())
        if period := (params.get("statsPeriod") or [""])[0]:
            number, unit = _PERIOD.match(period).groups()
            since = self.now - timedelta(**{_UNITS[unit]: int(number)})
            listed = [issue for issue in listed if datetime.fromisoformat(issue["lastSeen"]) >= since]
        if projects := params.get("project"):
            listed = [issue for issue in listed if issue["project"]["id"] in projects]
        listed.sort(key=lambda issue: (issue["lastSeen"], issue["id"]), reverse=True)
        limit = int((params.get("limit") or ["100"])[0])
        offset = int((params.get("cursor") or ["0:0:0"])[0].split(":")[1])
        page = listed[offset:offset + limit]
        base = f"https://sentry.io/api/0/organizations/{ORG}/issues/"
        previous, following = f"0:{max(0, offset - limit)}:1", f"0:{offset + limit}:0"
        link = (f'<{base}?&cursor={previous}>; rel="previous"; results="{str(offset > 0).lower()}"; cursor="{previous}", '
                f'<{base}?&cursor={following}>; rel="next"; results="{str(offset + limit < len(listed)).lower()}"; '
                f'cursor="{following}"')
        return self._json(200, [copy.deepcopy(issue) for issue in page], {"link": link})

    def _releases(self, slug: str, params: dict[str, list[str]]) -> httpx.Response:
        known = slug in self.releases or any(issue["project"]["slug"] == slug for issue in self.issues.values())
        if not known:
            return self._json(404, fixture("error-404.json"))
        per_page = int((params.get("per_page") or ["100"])[0])
        return self._json(200, copy.deepcopy(self.releases.get(slug, [])[:per_page]))

    def _update(self, issue_id: str, body: dict[str, Any]) -> httpx.Response:
        issue = self.issues.get(issue_id)
        if issue is None:
            return self._json(404, fixture("error-404.json"))
        if "status" in body:
            issue["status"] = body["status"]
            issue["substatus"] = "ongoing" if body["status"] == "unresolved" else None
        if "assignedTo" in body:
            issue["assignedTo"] = None if body["assignedTo"] is None else {"type": "user", "name": body["assignedTo"],
                                                                           "email": body["assignedTo"], "id": "88"}
        # Sentry's MutateIssueResponse (issue_examples.MUTATE_ISSUE_RESULT): the changed attributes.
        return self._json(200, {key: issue.get(key) for key in ("status", "statusDetails", "assignedTo", "substatus")})

    def _external(self, method: str, installation: str, external_id: str | None, body: dict[str, Any]) -> httpx.Response:
        if installation != INSTALLATION:
            return self._json(404, fixture("error-404.json"))
        if method == "POST" and external_id is None:
            # Create or update: Sentry keeps one external issue per Sentry issue and installation.
            existing = next((key for key, made in self.external.items()
                             if made["issueId"] == str(body["issueId"])), None)
            key = existing or str(len(self.external) + 1)
            made = {**fixture("external-issue-created.json"), "id": key, "issueId": str(body["issueId"]),
                    "displayName": f"{body['project']}#{body['identifier']}", "webUrl": body["webUrl"]}
            self.external[key] = made
            return self._json(201, made)
        if method == "DELETE" and external_id is not None:
            if self.external.pop(external_id, None) is None:
                return self._json(404, fixture("error-404.json"))
            return httpx.Response(204, headers=self.rate_headers)
        return self._json(404, fixture("error-404.json"))

    # --- what Sentry sends back --------------------------------------------------------------

    def webhook(self, issue_id: str, action: str, actor: dict[str, Any] | None = None) -> dict[str, Any]:
        """The issue delivery Sentry sends for ``issue_id`` as it is now: ``action`` by ``actor``
        (``AppPlatformEvent``: an integration's own token shows as the app itself)."""
        issue = copy.deepcopy(self.issues[issue_id])
        return {"action": action, "installation": {"uuid": INSTALLATION}, "data": {"issue": issue},
                "actor": actor or {"type": "application", "id": APP_UUID, "name": "Chipp Issues"}}
