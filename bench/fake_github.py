"""A GitHub API that answers correctly but slowly: every API request waits ``--delay`` seconds.

The benchmark points the hub's GitHub plugin at it (GITHUB_API_URL) to show that enrichment
runs in the worker, never on the request path: the create path must stay as fast as without it.
It answers the endpoints the plugin calls (one commit touching the stack, no deployments);
``GET /_bench/stats`` answers at once with how many API requests it served.

Run as its own process: ``python -m bench.fake_github --port N --delay S``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections import Counter

__all__ = ["answer", "serve"]

_SHA = "5" * 40
_COMMIT = {
    "sha": _SHA,
    "html_url": f"https://github.com/bench/bench/commit/{_SHA}",
    "commit": {
        "message": "Make the util throw (benchmark fixture)",
        "author": {"name": "Bench", "date": "2022-04-04T12:00:00Z"},
        "committer": {"name": "Bench", "date": "2022-04-04T12:00:00Z"},
    },
    "author": {"login": "bench"},
    "files": [{"filename": "frontend/src/util.ts"}],
}
_ROUTES = (
    (re.compile(r"^/repos/[^/]+/[^/]+/commits$"), [{"sha": _SHA}]),
    (re.compile(r"^/repos/[^/]+/[^/]+/commits/[0-9a-f]+$"), _COMMIT),
    (re.compile(r"^/repos/[^/]+/[^/]+/deployments$"), []),
    (re.compile(r"^/repos/[^/]+/[^/]+/deployments/\d+/statuses$"), []),
)
_served: Counter[str] = Counter()


def answer(path: str) -> tuple[int, object]:
    """The status and JSON body GitHub would give for ``path`` (query string removed)."""
    for pattern, body in _ROUTES:
        if pattern.match(path):
            return 200, body
    return 404, {"message": "Not Found"}


def _response(status: int, body: object) -> bytes:
    data = json.dumps(body).encode()
    reason = b"OK" if status == 200 else b"Not Found"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason, len(data), data))


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path = target.split("?", 1)[0]
            if path == "/_bench/stats":
                writer.write(_response(200, {"requests": sum(_served.values()), "by_route": dict(_served)}))
            else:
                await asyncio.sleep(delay)
                status, body = answer(path)
                _served[re.sub(r"[0-9a-f]{40}|\d+", "N", path)] += 1
                writer.write(_response(status, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


async def serve(port: int, delay: float) -> None:
    """Listen on 127.0.0.1:``port`` until the process is stopped."""
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    """``python -m bench.fake_github --port N --delay S``."""
    parser = argparse.ArgumentParser(prog="python -m bench.fake_github", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.delay))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
