"""A GitHub API that answers correctly but slowly: every API request waits ``--delay`` seconds.

The benchmark points the hub's GitHub plugin at it (GITHUB_API_URL) to show that enrichment
runs in the worker, never on the request path: the create path must stay as fast as without it.
It answers the endpoints the plugin calls (``--commits`` commits, the newest touching the stack;
no deployments), in the shapes of GitHub's recorded answers (plugins/github/tests/fixtures:
list-commits.json, get-commit.json), with GitHub's primary rate-limit headers.
``GET /_bench/stats`` answers at once with how many API requests it served, the most it served
at once (GitHub allows 100) and the most in any minute.

Run as its own process: ``python -m bench.fake_github --port N --delay S [--commits K]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import time
from collections import Counter, deque

__all__ = ["answer", "serve"]

#: GitHub's primary limit of a personal access token: requests per hour.
RATE_LIMIT = 5000


def _commit(sha: str, number: int) -> dict[str, object]:
    # Commits an hour apart before the benchmark's firstSeen (2022-04-04T18:17Z); the newest
    # touches the stack of the benchmark's Sentry issue (frontend/src/util.ts).
    date = f"2022-04-04T{17 - number:02d}:00:00Z"
    return {
        "sha": sha,
        "html_url": f"https://github.com/bench/bench/commit/{sha}",
        "commit": {
            "message": f"Change {number} (benchmark fixture)",
            "author": {"name": "Bench", "date": date},
            "committer": {"name": "Bench", "date": date},
        },
        "author": {"login": "bench"},
        "files": [{"filename": "frontend/src/util.ts" if number == 0 else f"backend/module{number}.py"}],
    }


class _State:
    """What the fake has served: per route, at once, per minute."""

    def __init__(self, commits: int) -> None:
        self.commits = [_commit(hashlib.sha1(b"bench-%d" % n).hexdigest(), n) for n in range(min(commits, 12))]
        self.by_sha = {commit["sha"]: commit for commit in self.commits}
        self.served: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.recent: deque[float] = deque()
        self.peak_per_minute = 0
        self.reset = int(time.time()) + 3600

    def begin(self) -> None:
        now = time.monotonic()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.recent.append(now)
        while self.recent and self.recent[0] <= now - 60:
            self.recent.popleft()
        self.peak_per_minute = max(self.peak_per_minute, len(self.recent))

    def answer(self, path: str) -> tuple[int, object]:
        """The status and JSON body GitHub would give for ``path`` (query string removed)."""
        if re.match(r"^/repos/[^/]+/[^/]+/commits$", path):
            return 200, [{"sha": c["sha"], "commit": c["commit"], "html_url": c["html_url"]} for c in self.commits]
        found = re.match(r"^/repos/[^/]+/[^/]+/commits/([0-9a-f]{40})$", path)
        if found and found.group(1) in self.by_sha:
            return 200, self.by_sha[found.group(1)]
        if re.match(r"^/repos/[^/]+/[^/]+/deployments(/\d+/statuses)?$", path):
            return 200, []
        return 404, {"message": "Not Found"}

    def stats(self) -> dict[str, object]:
        """What ``GET /_bench/stats`` answers."""
        return {"requests": sum(self.served.values()), "by_route": dict(self.served),
                "peak_concurrent": self.peak_in_flight, "peak_per_minute": self.peak_per_minute}


_state = _State(1)


def answer(path: str) -> tuple[int, object]:
    """The status and JSON body GitHub would give for ``path`` (query string removed)."""
    return _state.answer(path)


def _response(status: int, body: object, remaining: int | None = None) -> bytes:
    data = json.dumps(body).encode()
    reason = b"OK" if status == 200 else b"Not Found"
    limits = b""
    if remaining is not None:
        limits = (b"X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\nX-RateLimit-Reset: %d\r\n"
                  b"X-RateLimit-Resource: core\r\n" % (RATE_LIMIT, remaining, _state.reset))
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (status, reason, limits, len(data), data))


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path = target.split("?", 1)[0]
            if path == "/_bench/stats":
                writer.write(_response(200, _state.stats()))
            else:
                _state.begin()
                try:
                    await asyncio.sleep(delay)
                finally:
                    _state.in_flight -= 1
                status, body = answer(path)
                _state.served[re.sub(r"[0-9a-f]{40}|\d+", "N", path)] += 1
                remaining = max(0, RATE_LIMIT - sum(_state.served.values()))
                writer.write(_response(status, body, remaining))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


async def serve(port: int, delay: float, commits: int = 1) -> None:
    """Listen on 127.0.0.1:``port`` until the process is stopped."""
    global _state
    _state = _State(commits)
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    """``python -m bench.fake_github --port N --delay S``."""
    parser = argparse.ArgumentParser(prog="python -m bench.fake_github", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=5.0)
    parser.add_argument("--commits", type=int, default=1, help="commits in the window (1; at most 12)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.delay, args.commits))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
