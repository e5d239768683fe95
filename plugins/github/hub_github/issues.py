"""The GitHub Issues sink: a hub issue becomes one GitHub issue, and its changes follow it.

Runs in the outbox worker (hook ``publish_issue``), never on a webhook's path. GitHub has no
idempotency key, so every write that creates something (the issue, a comment) is done once:
the attempt is recorded in the shared cache first, and a retry after a timeout looks for the
record's marker (an invisible HTML comment) before creating it again.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Mapping, Sequence

import httpx

from hub import Change, ExternalLinkDraft, GiveUp, IssueView, LinkView
from hub import Cache
from hub import Settings

from hub_github.client import GitHubClient
from hub_github.settings import GithubSettings

__all__ = ["ATTEMPTS", "COMMENT_MARKER", "ISSUE_MARKER", "SINK", "comment_body", "issue_body", "issue_labels",
           "own_logins", "publish", "remember_login"]

log = logging.getLogger("hub.github.issues")

SINK = "github"
ISSUE_MARKER = "<!-- hub:issue {id} -->"
COMMENT_MARKER = "<!-- hub:comment {key} -->"
ATTEMPTS = "github.issues.attempt"
# A create that timed out shows up in GitHub's list within seconds; look a little before the
# attempt's own time for clock skew between the hub and GitHub.
_LOOKBACK = timedelta(minutes=5)
_ATTEMPT_TTL_SECONDS = 30 * 24 * 3600
# GitHub refuses bodies over 65,536 characters; leave room for the footer.
_MAX_BODY = 60_000
_MAX_LOOKUP_PAGES = 5

#: Logins of the token (learned from GitHub's answers, or [github.issues] bot_login): a change
#: GitHub reports as made by one of them is the hub's own, and never comes back.
_OWN_LOGINS: set[str] = set()


def remember_login(login: str | None) -> None:
    """Note the token's own login (the author of what the hub wrote)."""
    if login:
        _OWN_LOGINS.add(login.lower())


def own_logins(settings: GithubSettings) -> set[str]:
    """The logins whose changes are the hub's own: configured, or learned this process."""
    return _OWN_LOGINS | ({settings.issues.bot_login.lower()} if settings.issues.bot_login else set())


def hub_url(config: Settings, identifier: str) -> str:
    """The issue's console page (``[hub] public_url``, else where the hub listens)."""
    return config.issue_url(identifier)


def issue_body(issue: IssueView, config: Settings) -> str:
    """The GitHub issue's body: the hub's description, a link back, and the hub's marker."""
    description = issue.description if len(issue.description) <= _MAX_BODY else \
        issue.description[:_MAX_BODY] + "\n\n… (cut: see the hub)"
    return (f"{description.rstrip()}\n\n---\n"
            f"Tracked in the hub as [{issue.identifier}]({hub_url(config, issue.identifier)}).\n"
            f"{ISSUE_MARKER.format(id=issue.id)}\n")


def comment_key(issue: IssueView, change: Change) -> str:
    """A comment's identity: its issue, author and text (a retry posts it once, not twice)."""
    digest = hashlib.sha256(f"{issue.id}\n{change.actor}\n{change.text}".encode()).hexdigest()
    return digest[:32]


def comment_body(issue: IssueView, change: Change) -> str:
    """A mirrored comment: who wrote it in the hub, the text, and the hub's marker."""
    author = change.actor or "hub"
    text = change.text if len(change.text) <= _MAX_BODY else change.text[:_MAX_BODY] + " …"
    return f"**{author}** (in the hub):\n\n{text}\n\n{COMMENT_MARKER.format(key=comment_key(issue, change))}\n"


def issue_labels(issue: IssueView, labels: Sequence[str], settings: GithubSettings) -> list[str]:
    """The hub's labels (``Sentry`` kept as it is) and the priority's mapped label."""
    names = list(dict.fromkeys(labels))
    mapped = settings.issues.labels.get(issue.priority)
    if mapped and mapped not in names:
        names.append(mapped)
    return names


def _assignees(issue: IssueView, settings: GithubSettings) -> list[str]:
    login = settings.issues.assignees.get(issue.assignee or "")
    return [login] if login else []


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _once(cache: Cache, key: str, lookup: Callable[[datetime], Awaitable[Any]],
                create: Callable[[], Awaitable[Any]]) -> Any:
    """Create something once, whatever a timed-out attempt did: record the attempt, and on a
    later try look for what it made (``lookup(since)``) before creating again."""
    attempt = await cache.get(ATTEMPTS, key)
    if attempt is not None:
        if "result" in attempt:
            return attempt["result"]
        found = await lookup(datetime.fromisoformat(attempt["at"]) - _LOOKBACK)
        if found is not None:
            await cache.set(ATTEMPTS, key, {**attempt, "result": found}, _ATTEMPT_TTL_SECONDS)
            return found
    started = {"at": _now().isoformat()}
    await cache.set(ATTEMPTS, key, started, _ATTEMPT_TTL_SECONDS)  # before the write: a timeout can hide it
    made = await create()
    await cache.set(ATTEMPTS, key, {**started, "result": made}, _ATTEMPT_TTL_SECONDS)
    return made


class IssuesClient:
    """The few calls the mirror makes; the client paces its writes (the token's budget, hub_github.pacing)."""

    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    async def write(self, method: str, path: str, body: Mapping[str, Any]) -> Any:
        """A paced write; the JSON answer. The author of what it made is the token's login."""
        answer = (await self.client.send(method, path, body)).json()
        if isinstance(answer, dict) and isinstance(answer.get("user"), dict):
            remember_login(answer["user"].get("login"))
        return answer

    async def find(self, path: str, marker: str, since: datetime, extra: Mapping[str, Any]) -> Any:
        """The first item of a list endpoint updated since ``since`` whose body has ``marker``."""
        params = {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 100, **extra}
        for page in range(1, _MAX_LOOKUP_PAGES + 1):
            items = (await self.client.send("GET", path, params={**params, "page": page})).json()
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and marker in (item.get("body") or ""):
                    return item
            if not isinstance(items, list) or len(items) < 100:
                return None
        return None


def _link_of(repo: str, item: Mapping[str, Any]) -> ExternalLinkDraft:
    number = item["number"]
    return ExternalLinkDraft(external_id=f"{repo.lower()}#{number}", external_url=item.get("html_url"),
                             metadata={"repo": repo, "number": number})


def _where(link: LinkView) -> tuple[str, int]:
    metadata = link.metadata or {}
    if isinstance(metadata.get("repo"), str) and isinstance(metadata.get("number"), int):
        return metadata["repo"], metadata["number"]
    repo, _, number = link.external_id.rpartition("#")
    return repo, int(number)


async def _create(issues: IssuesClient, cache: Cache, issue: IssueView, repo: str, labels: Sequence[str],
                  config: Settings, settings: GithubSettings) -> ExternalLinkDraft:
    marker = ISSUE_MARKER.format(id=issue.id)
    path = f"/repos/{repo}/issues"

    async def lookup(since: datetime) -> Any:
        found = await issues.find(path, marker, since, {"state": "all", "sort": "created", "direction": "desc"})
        if found is not None:
            log.info("[GitHub Issues] %s: found %s#%s made by an earlier attempt", issue.identifier, repo,
                     found["number"])
            return {"number": found["number"], "html_url": found.get("html_url")}
        return None

    async def create() -> Any:
        body = {"title": issue.title[:256], "body": issue_body(issue, config),
                "labels": issue_labels(issue, labels, settings), "assignees": _assignees(issue, settings)}
        made = await issues.write("POST", path, body)
        log.info("[GitHub Issues] %s: created %s#%s", issue.identifier, repo, made["number"])
        return {"number": made["number"], "html_url": made.get("html_url")}

    made = await _once(cache, f"issue:{issue.id}", lookup, create)
    return _link_of(repo, made)


async def _comment(issues: IssuesClient, cache: Cache, issue: IssueView, repo: str, number: int,
                   change: Change) -> None:
    key = comment_key(issue, change)
    marker = COMMENT_MARKER.format(key=key)
    path = f"/repos/{repo}/issues/{number}/comments"

    async def lookup(since: datetime) -> Any:
        found = await issues.find(path, marker, since, {})
        return None if found is None else {"id": found.get("id")}

    async def create() -> Any:
        made = await issues.write("POST", path, {"body": comment_body(issue, change)})
        return {"id": made.get("id")}

    await _once(cache, f"comment:{key}", lookup, create)


async def publish(issue: IssueView, link: LinkView | None, links: Sequence[LinkView], changes: Sequence[Change],
                  labels: Sequence[str], config: Settings, http: httpx.AsyncClient,
                  cache: Cache, *, project: str | None = None) -> ExternalLinkDraft | None:
    """Create the GitHub issue (no ``link`` yet) or apply ``changes`` to it; the new link, if made.

    ``project`` (the code_project contract) picks the repository from ``[github.issues.projects]``."""
    settings: GithubSettings = config.plugin("github")
    if settings.token is None:
        raise GiveUp("[github.issues] is enabled but GITHUB_TOKEN is not set")
    client = GitHubClient.for_settings(settings, http, cache)
    issues = IssuesClient(client)
    created: ExternalLinkDraft | None = None
    if link is None:
        repo = settings.issues_repo_for(project)
        if repo is None:
            raise GiveUp(f"no repository for {issue.identifier}: set [github.issues] repo or [github.issues.projects]")
        created = await _create(issues, cache, issue, repo, labels, config, settings)
        number = created.metadata["number"]
        # The new issue shows the hub's state as it is now; of the changes queued before it
        # existed only the comments are left to say.
        if issue.status == "closed":
            await issues.write("PATCH", f"/repos/{repo}/issues/{number}", {"state": "closed", "state_reason": "completed"})
        changes = [change for change in changes if change.kind == "comment"]
    else:
        repo, number = _where(link)
    path = f"/repos/{repo}/issues/{number}"
    for change in changes:
        if change.kind == "close":
            await issues.write("PATCH", path, {"state": "closed", "state_reason": "completed"})
        elif change.kind == "reopen":
            await issues.write("PATCH", path, {"state": "open"})
        elif change.kind == "comment":
            await _comment(issues, cache, issue, repo, number, change)
        elif change.kind == "description":
            await issues.write("PATCH", path, {"body": issue_body(issue, config)})
        elif change.kind == "assign":
            await issues.write("PATCH", path, {"assignees": _assignees(issue, settings)})
        elif change.kind in ("label", "priority"):
            # Added, never replaced: labels people put on the GitHub issue stay (so does the
            # label of an earlier priority).
            added = change.value if change.kind == "label" else settings.issues.labels.get(change.value or "")
            if added:
                await issues.write("POST", f"{path}/labels", {"labels": [added]})
    if changes:
        log.info("[GitHub Issues] %s: %s sent to %s#%s", issue.identifier,
                 ", ".join(change.kind for change in changes), repo, number)
    return created
