"""Match stack-trace paths (as Sentry reports them) against repository file paths.

A stack path carries whatever the build and the runtime put in front of the repository path:
``webpack:///./``, ``app:///``, a URL's host, a CI checkout root, a Windows drive. Instead of
guessing the root, paths are compared from the end, one segment at a time.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["matching_files", "normalise", "paths_match", "segments"]

# "webpack:///", "webpack://app-name/", "app:///", "https://example.com" ... up to the path.
_SCHEME_AND_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*", re.IGNORECASE)
_DRIVE = re.compile(r"^[a-z]:(?=/)", re.IGNORECASE)
# Segments that say where a path starts, not where the file is.
_SKIPPED = {"", ".", "..", "~"}


def segments(path: str) -> tuple[str, ...]:
    """Split a stack or repository path into its segments, without the prefixes builds and runtimes
    put in front (scheme and host, drive, ``./``, ``~``) or a query; case kept."""
    text = path.strip().replace("\\", "/")
    text = _SCHEME_AND_HOST.sub("", text, count=1)
    text = _DRIVE.sub("", text, count=1)
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    return tuple(segment for segment in text.split("/") if segment not in _SKIPPED)


def normalise(path: str) -> tuple[str, ...]:
    """Split a stack or repository path into lower-case segments, without prefixes or roots."""
    return tuple(segment.lower() for segment in segments(path))


def paths_match(stack_path: str, repo_file: str) -> bool:
    """Whether a stack path and a repository file are the same file, compared from the end.

    The trailing segments must agree over the whole shorter path, and over at least two
    segments, except that a file at the repository root matches on its name alone
    (``App.tsx`` in a stack is not ``src/App.tsx``, but ``/build/App.tsx`` is ``App.tsx``).
    """
    return _segments_match(normalise(stack_path), normalise(repo_file))


def matching_files(stack_paths: Iterable[str], repo_files: Iterable[str]) -> list[str]:
    """The repository files that some stack path matches, in the stack's order of relevance."""
    # Indexed by file name: a commit may list thousands of files and a stack dozens of frames.
    by_name: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for repo_file in repo_files:
        segments = normalise(repo_file)
        if segments:
            by_name.setdefault(segments[-1], []).append((repo_file, segments))
    found: list[str] = []
    for stack_path in stack_paths:
        stack = normalise(stack_path)
        for repo_file, segments in by_name.get(stack[-1], []) if stack else []:
            if repo_file not in found and _segments_match(stack, segments):
                found.append(repo_file)
    return found


def _segments_match(stack: tuple[str, ...], repo: tuple[str, ...]) -> bool:
    shorter = min(len(stack), len(repo))
    if shorter == 0 or stack[-shorter:] != repo[-shorter:]:
        return False
    return shorter >= 2 or len(repo) == 1
