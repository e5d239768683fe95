"""The load generator: a separate process holding N keep-alive HTTP/1.1 connections for a fixed time.

It shares two cores with the server it measures, so it is as lean as asyncio allows: a bare
``asyncio.Protocol`` per connection (no HTTP library), requests signed before the timed window,
one response parsed by two ``find`` calls. It reports its own CPU time so a run shows whether
the generator, not the server, was the limit.

Protocol with the runner (``python -m bench.load``): one JSON spec line on stdin; the process
builds every request, opens its connections and prints ``ready``; on ``go`` it runs and prints
one JSON result line. ``--now`` skips the handshake (for running it by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.payloads import Delivery, RequestMaker

__all__ = ["LoadSpec", "main", "run"]

#: A response slower than this is a transport error (the server is stuck, not slow).
REQUEST_TIMEOUT_S = 30.0
#: How long requests in flight at the deadline may take to finish before they count as errors.
DRAIN_TIMEOUT_S = REQUEST_TIMEOUT_S + 15.0


@dataclass
class LoadSpec:
    """What to send, where, how hard and for how long.

    ``mode``: ``once`` sends each of ``count`` deliveries (Sentry ids ``id_prefix + n`` for n from
    ``id_start``) at most once, so every request creates a new issue; ``cycle`` sends the same
    ``count`` deliveries again and again (issues the hub already tracks). ``duration`` 0 means
    "until every delivery was sent once" (seeding). ``expect``: ``created``, ``deduplicated``
    or ``any``; a 200 whose body says otherwise is counted as unexpected. ``first_seen_spread``:
    the issues' firstSeen spread over that many seconds (0: all the example's).
    """

    port: int
    secret: str
    request_ids: str
    host: str = "127.0.0.1"
    connections: int = 32
    duration: float = 5.0
    mode: str = "once"
    id_prefix: str = ""
    id_start: int = 0
    count: int = 1000
    expect: str = "any"
    first_seen_spread: int = 0

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        """Parse the spec line the runner sends."""
        return cls(**json.loads(text))


@dataclass
class _Tally:
    """What the connections record while the load runs."""

    deadline: float = float("inf")
    sent: int = 0
    in_window: int = 0
    latencies_us: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    unexpected: int = 0
    drained: int = 0
    exhausted: bool = False
    samples: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(what[:300])


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its response parsed in place."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.started_ns = 0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\ncontent-length:")
        if at < 0:
            # Every contender answers with a Content-Length; anything else is a broken answer.
            self.waiter.set_exception(ConnectionError("response without content-length"))
            self.transport.abort()
            return
        stop = head.find(b"\r", at + 1)
        length = int(head[at + 16:stop] if stop > 0 else head[at + 16:])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4:total])
        del self.buffer[:total]
        self.waiter.set_result((int(head[9:12]), body, b"\nconnection: close" in head))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc or 'closed by the server'}"))


async def _open(spec: LoadSpec) -> _Connection:
    loop = asyncio.get_running_loop()
    _transport, connection = await loop.create_connection(_Connection, spec.host, spec.port)
    return connection


def _expected(body: bytes, expect: str) -> bool:
    if expect == "created":
        return b'"deduplicated"' not in body and b'"skipped"' not in body
    if expect == "deduplicated":
        return b'"deduplicated"' in body
    return True


async def _drive(spec: LoadSpec, connections: list[_Connection], index: int, requests: Any, tally: _Tally) -> None:
    """Send requests on ``connections[index]`` until the deadline or until ``requests`` runs out."""
    loop = asyncio.get_running_loop()
    connection = connections[index]
    while time.perf_counter() < tally.deadline:
        request = next(requests, None)
        if request is None:
            tally.exhausted = spec.duration > 0
            return
        if connection.lost:
            try:
                connection = connections[index] = await _open(spec)
            except OSError as exc:
                tally.transport_errors += 1
                tally.note(f"reconnect failed: {exc}")
                await asyncio.sleep(0.1)
                continue
        connection.waiter = loop.create_future()
        started = connection.started_ns = time.perf_counter_ns()
        connection.transport.write(request)
        tally.sent += 1
        try:
            status, body, close = await connection.waiter
        except ConnectionError as exc:
            tally.transport_errors += 1
            tally.note(str(exc))
            connection.lost = True
            continue
        finally:
            connection.started_ns = 0
        done = time.perf_counter_ns()
        if done / 1e9 <= tally.deadline:
            tally.in_window += 1
            tally.latencies_us.append((done - started) // 1000)
        else:
            tally.drained += 1
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status != 200:
            tally.note(f"HTTP {status}: {body[:200].decode(errors='replace')}")
        elif not _expected(body, spec.expect):
            tally.unexpected += 1
            tally.note(f"unexpected answer (wanted {spec.expect}): {body[:200].decode(errors='replace')}")
        if close:
            connection.transport.close()
            connection.lost = True


async def _watchdog(connections: list[_Connection]) -> None:
    """Abort connections whose request has waited longer than REQUEST_TIMEOUT_S.

    One task checking every connection once a second is cheaper than a timer per request.
    """
    while True:
        await asyncio.sleep(1.0)
        limit = time.perf_counter_ns() - int(REQUEST_TIMEOUT_S * 1e9)
        for connection in connections:
            if connection.started_ns and connection.started_ns < limit and connection.transport is not None:
                if connection.waiter is not None and not connection.waiter.done():
                    connection.waiter.set_exception(ConnectionError(f"no answer within {REQUEST_TIMEOUT_S:g} s"))
                connection.transport.abort()


def _requests(spec: LoadSpec, deliveries: list[Delivery], maker: RequestMaker) -> Any:
    number = 0
    if spec.mode == "once":
        for delivery in deliveries:
            yield maker.request(delivery, number)
            number += 1
        return
    while True:
        yield maker.request(deliveries[number % len(deliveries)], number)
        number += 1


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(spec: LoadSpec, go: Any = None) -> dict[str, Any]:
    """Build the requests, connect, await ``go()`` (if given), load the server, return the tally.

    ``go`` is the start signal of the runner: everything before it (signing, connecting) is
    outside the timed window.
    """
    maker = RequestMaker(spec.host, spec.port, spec.secret, spec.request_ids)
    deliveries = [maker.delivery(f"{spec.id_prefix}{spec.id_start + n}",
                                 (n * 7919) % spec.first_seen_spread if spec.first_seen_spread else 0)
                  for n in range(spec.count)]
    requests = _requests(spec, deliveries, maker)
    connections = [await _open(spec) for _ in range(spec.connections)]
    if go is not None:
        await go()
    tally = _Tally()
    watchdog = asyncio.create_task(_watchdog(connections))
    cpu = _cpu_seconds()
    started = time.perf_counter()
    tally.deadline = started + spec.duration if spec.duration > 0 else float("inf")
    try:
        await asyncio.wait_for(
            asyncio.gather(*[_drive(spec, connections, index, requests, tally) for index in range(len(connections))]),
            timeout=(spec.duration + DRAIN_TIMEOUT_S) if spec.duration > 0 else None,
        )
    finally:
        watchdog.cancel()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
    elapsed = min(time.perf_counter(), tally.deadline) - started
    cpu = _cpu_seconds() - cpu
    return {
        "seconds": round(elapsed, 4),
        "sent": tally.sent,
        "completed": tally.in_window,
        "drained": tally.drained,
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "transport_errors": tally.transport_errors,
        "unexpected": tally.unexpected,
        "errors": sum(count for status, count in tally.statuses.items() if status != 200)
        + tally.transport_errors + tally.unexpected,
        "exhausted": tally.exhausted,
        "client_cpu_seconds": round(cpu, 3),
        "error_samples": tally.samples,
        "latencies_us": tally.latencies_us,
    }


async def _handshake() -> None:
    """Say ``ready`` and wait for ``go`` from the runner (stdin is a pipe; read it off the loop)."""
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("bench.load: expected 'go' from the runner")


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.load [--now] [SPEC_JSON]``: run one load and print the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", help="the LoadSpec as JSON (default: one line on stdin)")
    parser.add_argument("--now", action="store_true", help="start at once instead of waiting for 'go'")
    args = parser.parse_args(argv)
    spec = LoadSpec.from_json(args.spec or sys.stdin.readline())
    result = asyncio.run(run(spec, None if args.now else _handshake))
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
