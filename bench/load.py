"""The load generator: a separate process, N keep-alive HTTP/1.1 connections, for a fixed time.

Raw asyncio streams rather than an HTTP client library: the generator shares two cores with the
server, so it must cost as little as possible. Each request is a signed Sentry ``issue``
delivery; ``--mode create`` gives every request a new Sentry issue id, ``--mode dedupe`` cycles
through ids created beforehand.

Prints one JSON object: requests, errors, seconds, latencies' p50/p99 (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path

TEMPLATE = json.loads((Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sentry"
                       / "mocks-integration-platform-example" / "issue-created.json").read_text())


def sentry_body(issue_id: str) -> bytes:
    """A Sentry ``created`` delivery for the Sentry issue ``issue_id``."""
    payload = json.loads(json.dumps(TEMPLATE))
    payload["data"]["issue"].update(id=issue_id, shortId=f"BENCH-{issue_id}", substatus="new")
    return json.dumps(payload).encode()


def request_bytes(host: str, path: str, body: bytes, secret: bytes) -> bytes:
    """The whole HTTP request, signed."""
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nSentry-Hook-Resource: issue\r\n"
            f"Sentry-Hook-Signature: {signature}\r\nSentry-Hook-Timestamp: {int(time.time())}\r\n\r\n")
    return head.encode() + body


async def _connection(host: str, port: int, path: str, ids, secret: bytes, deadline: float,
                      latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            data = request_bytes(host, path, sentry_body(next(ids)), secret)
            started = time.perf_counter()
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(str(status))
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def run(url: str, connections: int, duration: float, mode: str, secret: str, prefix: str,
              dedupe_ids: int = 100) -> dict:
    """Drive the load; return the figures."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    if mode == "create":
        ids = (f"{prefix}-{n}" for n in itertools.count())
    else:
        ids = itertools.cycle([f"{prefix}-seed-{n}" for n in range(dedupe_ids)])
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*[_connection(host, int(port), "/" + path, ids, secret.encode(), deadline, latencies, errors)
                           for _ in range(connections)])
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {"requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "seconds": round(elapsed, 3), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": percentile(0.50), "p99_ms": percentile(0.99)}


async def seed(url: str, secret: str, prefix: str, count: int = 100) -> None:
    """Create the Sentry issues the dedupe mode will deliver again."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    for n in range(count):
        writer.write(request_bytes(host, "/" + path, sentry_body(f"{prefix}-seed-{n}"), secret.encode()))
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
    writer.close()


def main() -> None:
    """``python -m bench.load URL --connections N --duration S --mode create|dedupe|seed``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--mode", choices=["create", "dedupe", "seed"], default="create")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    if args.mode == "seed":
        asyncio.run(seed(args.url, args.secret, args.prefix))
        print("{}")
        return
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.duration, args.mode, args.secret, args.prefix))))


if __name__ == "__main__":
    main()
