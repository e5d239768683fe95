"""A fake GitHub for the issue mirror: it keeps the issues and comments written to it, and answers
with GitHub's own recorded responses (plugins/github/tests/fixtures, where each file says where
it came from), renumbered and re-addressed to the test's repository."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

RECORDED = Path(__file__).resolve().parents[1] / "plugins" / "github" / "tests" / "fixtures"


def recorded(name: str, index: int = 0) -> dict[str, Any]:
    """A recorded exchange's response (``status``, ``headers``, ``body``)."""
    return json.loads((RECORDED / name).read_text())["exchanges"][index]["response"]


def webhook_body(name: str, repo: str, number: int, **changes: Any) -> dict[str, Any]:
    """A recorded webhook delivery (fixtures/webhooks), about the test's ``repo`` and issue ``number``."""
    payload = json.loads((RECORDED / "webhooks" / name).read_text())
    payload["repository"]["full_name"] = repo
    payload["issue"]["number"] = number
    for path, value in changes.items():
        target = payload
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return payload


def github_headers(body: bytes, event: str, delivery: str, secret: str) -> dict[str, str]:
    """The headers GitHub sends with a webhook delivery, signed with ``secret``."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-github-event": event, "x-github-delivery": delivery,
            "x-hub-signature-256": f"sha256={signature}", "user-agent": "GitHub-Hookshot/abc1234"}


def _response(recorded_response: dict[str, Any], body: Any) -> httpx.Response:
    headers = {k: v for k, v in recorded_response["headers"].items()
               if k not in ("content-length", "transfer-encoding", "content-encoding", "status")}
    return httpx.Response(recorded_response["status"], headers=headers, content=json.dumps(body).encode())


class FakeGitHubIssues:
    """Issues and comments of one repository, written through the REST API.

    ``timeout_after_create``: the next create is made, but the answer never arrives (a timeout).
    ``refuse``: (method, status, fixture) to answer the next matching request with instead.
    """

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.timeout_after_create = False
        self.refuse: list[tuple[str, str]] = []
        #: X-OAuth-Scopes of the repository answer (None: the recorded ones, which include repo).
        self.scopes: str | None = None

    def writes(self) -> list[tuple[str, str, Any]]:
        """The POST and PATCH requests, in order: (method, path, JSON body)."""
        return [request for request in self.requests if request[0] in ("POST", "PATCH")]

    def transport(self) -> httpx.MockTransport:
        """The httpx transport to hand the hub."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.requests.append((request.method, path, body))
        for index, (method, fixture) in enumerate(self.refuse):
            if method == request.method:
                del self.refuse[index]
                answer = recorded(fixture)
                return _response(answer, answer["body"])
        base = f"/repos/{self.repo}"
        if request.method == "GET" and path == base:
            answer = recorded("get-repository.json")
            response = _response(answer, {**answer["body"], "full_name": self.repo})
            if self.scopes is not None:
                response.headers["x-oauth-scopes"] = self.scopes
            return response
        if request.method == "POST" and path == f"{base}/issues":
            return self._create(body)
        if request.method == "GET" and path == f"{base}/issues":
            answer = recorded("list-issues.json")
            listed = [self._issue_body(answer["body"][0], number) for number in sorted(self.issues, reverse=True)]
            return _response(answer, listed)
        number = int(path.split("/")[5]) if path.startswith(f"{base}/issues/") else None
        if number is not None and number not in self.issues:
            answer = recorded("not-found-404.json")
            return _response(answer, answer["body"])
        if request.method == "PATCH" and path == f"{base}/issues/{number}":
            self.issues[number].update(body)
            answer = recorded("edit-issue-200.json")
            return _response(answer, self._issue_body(answer["body"], number))
        if request.method == "POST" and path == f"{base}/issues/{number}/comments":
            answer = recorded("create-comment-201.json")
            comment = {**copy.deepcopy(answer["body"]), "id": 5808311 + sum(map(len, self.comments.values())),
                       "body": body["body"], "user": recorded("create-issue-201.json")["body"]["user"]}
            self.comments.setdefault(number, []).append(comment)
            return _response(answer, comment)
        if request.method == "GET" and path == f"{base}/issues/{number}/comments":
            return _response(recorded("list-issues.json"), self.comments.get(number, []))
        return httpx.Response(404, json={"message": f"Not recorded: {request.method} {path}"})

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        number = len(self.issues) + 1
        self.issues[number] = {**body, "state": "open"}
        if self.timeout_after_create:
            self.timeout_after_create = False
            raise httpx.ReadTimeout("timed out reading the answer")
        answer = recorded("create-issue-201.json")
        return _response(answer, self._issue_body(answer["body"], number))

    def _issue_body(self, template: dict[str, Any], number: int) -> dict[str, Any]:
        issue = copy.deepcopy(template)
        issue.update({"number": number, "html_url": f"https://github.com/{self.repo}/issues/{number}",
                      "body": self.issues[number].get("body"), "title": self.issues[number].get("title"),
                      "state": self.issues[number].get("state", "open")})
        return issue
