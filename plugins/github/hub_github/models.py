"""What the correlation keeps of GitHub's answers: only what the section shows or matches on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub import parse_datetime

__all__ = ["Commit", "Correlation", "Deployment"]


@dataclass(frozen=True)
class Commit:
    """One commit: its headline, author, date and changed files.

    ``files_complete`` is False when the file list was cut at ``max_file_pages``.
    """

    sha: str
    html_url: str
    title: str
    author: str
    date: datetime
    files: tuple[str, ...]
    files_complete: bool = True

    @classmethod
    def from_pages(cls, pages: list[dict[str, Any]], files_complete: bool) -> "Commit":
        """Build from the pages of ``GET /repos/{o}/{r}/commits/{sha}`` (files split over pages)."""
        first = pages[0]
        git = first.get("commit") or {}
        author = git.get("author") or {}
        # The committer date is when the commit landed (after a rebase or merge), which is
        # also what GitHub's since/until filter on.
        committer = git.get("committer") or {}
        date = parse_datetime(committer.get("date")) or parse_datetime(author.get("date"))
        if date is None:
            raise ValueError(f"commit {first.get('sha')} has no date")
        return cls(
            sha=first["sha"],
            html_url=first["html_url"],
            title=(git.get("message") or "").strip().split("\n", 1)[0],
            author=author.get("name") or (first.get("author") or {}).get("login") or "unknown",
            date=date,
            files=tuple(entry["filename"] for page in pages for entry in page.get("files") or ()),
            files_complete=files_complete,
        )

    def to_cache(self) -> dict[str, Any]:
        """The JSON value stored in the cache."""
        return {"sha": self.sha, "html_url": self.html_url, "title": self.title, "author": self.author,
                "date": self.date.isoformat(), "files": list(self.files),
                "files_complete": self.files_complete}

    @classmethod
    def from_cache(cls, value: dict[str, Any]) -> "Commit":
        """Rebuild from :meth:`to_cache`'s value."""
        return cls(sha=value["sha"], html_url=value["html_url"], title=value["title"],
                   author=value["author"], date=datetime.fromisoformat(value["date"]),
                   files=tuple(value["files"]), files_complete=value["files_complete"])


@dataclass(frozen=True)
class Deployment:
    """One deployment and the state of its latest status (None: no status yet)."""

    environment: str
    sha: str
    ref: str
    created_at: datetime
    state: str | None = None


@dataclass(frozen=True)
class Correlation:
    """What was found for one error in its repository.

    ``commits``: most suspicious first; ``deployments``: newest first; ``matches``: per commit sha,
    its files found in the stack trace; ``stack_files``: all of those once, most relevant first.
    """

    commits: list[Commit] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    matches: dict[str, list[str]] = field(default_factory=dict)
    stack_files: list[str] = field(default_factory=list)
