"""A GitHub API that answers, correctly but slowly: every request waits ``--delay`` seconds.

Run by the benchmark as a separate process so the hub's enrichment has a slow upstream, as when
GitHub takes seconds or is degraded. Answers ``[]`` (no commits, no deployments) to every GET.
"""

from __future__ import annotations

import argparse
import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, delay: float) -> None:
    """Listen on 127.0.0.1:``port`` until killed."""
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.delay))
