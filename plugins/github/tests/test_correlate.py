"""Fetching one commit (headline, author, date, every page of its files; cached by sha) and ranking commits."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub_github.client import GitHubClient
from hub_github.correlate import COMMIT_NAMESPACE, fetch_commit, rank_commits
from hub_github.models import Commit


@pytest.fixture
def client(fake_github, cache, token):
    return GitHubClient(fake_github.client(), api_url="https://api.github.com", token=token, cache=cache)


async def test_a_commit_on_one_page(fake_github, cache, client):
    fake_github.serve("get-commit.json")
    sha = "1292bf0e22c796e91cc3d6e24b544aece8c21f2a"
    commit = await fetch_commit(client, cache, "jacquev6/PyGithub", sha, max_pages=10)
    assert (commit.sha, commit.title, commit.author) == (sha, "Remove completion functions from GitAuthor",
                                                         "Vincent Jacques")
    assert commit.date == datetime(2012, 5, 9, 16, 22, 33, tzinfo=timezone.utc)
    assert commit.files == ("github/GithubObjects/GitAuthor.py",) and commit.files_complete
    assert commit.html_url == f"https://github.com/jacquev6/PyGithub/commit/{sha}"
    assert len(fake_github.requests) == 1


async def test_a_commit_whose_files_span_two_pages_keeps_the_first_message_line(fake_github, cache, client):
    fake_github.serve("get-commit-files-paginated.json")
    sha = "3253acaabd86de12b73d0a24c98eb9c13d1987b5"
    commit = await fetch_commit(client, cache, "PyGithub/PyGithub", sha, max_pages=10)
    assert commit.title == "Bump actions/setup-python from 5 to 6"
    assert commit.author == "dependabot[bot]"
    assert commit.files == (".github/workflows/_build-pkg.yml", ".github/workflows/ci.yml",
                            ".github/workflows/lint.yml", ".github/workflows/openapi.yml")
    assert len(fake_github.requests) == 2
    # Cached by repository and sha: asking again makes no request.
    assert await fetch_commit(client, cache, "PyGithub/PyGithub", sha, max_pages=10) == commit
    assert len(fake_github.requests) == 2
    assert (await cache.get(COMMIT_NAMESPACE, f"PyGithub/PyGithub@{sha}"))["files_complete"] is True


def commit(sha, hour, files):
    return Commit(sha=sha, html_url=f"https://github.com/o/r/commit/{sha}", title=sha, author="A",
                  date=datetime(2024, 12, 13, hour, tzinfo=timezone.utc), files=tuple(files))


def test_commits_touching_the_stack_come_first_then_newest_first():
    commits = [commit("a", 9, ["docs/x.md"]), commit("b", 8, ["src/lib/db.ts"]), commit("c", 11, ["README.md"]),
               commit("d", 7, ["apps/admin/src/App.tsx", "src/lib/db.ts"])]
    ordered, matches, stack_files = rank_commits(commits, ["webpack:///./src/App.tsx", "app:///lib/db.ts"])
    assert [c.sha for c in ordered] == ["b", "d", "c", "a"]
    assert matches == {"b": ["src/lib/db.ts"], "d": ["apps/admin/src/App.tsx", "src/lib/db.ts"]}
    assert stack_files == ["apps/admin/src/App.tsx", "src/lib/db.ts"]

