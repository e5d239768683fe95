"""What anyone who can connect can do to ``hub serve``: oversized or endless headers, slow or idle
connections, too many of them. Against a real server process, over real sockets."""

from __future__ import annotations

import asyncio
import resource
import select
import socket
import time
from pathlib import Path

import httpx
import pytest

from hub.transport import TransportLimits
from servers import HubServer
from support import SENTRY_SECRET, sentry_headers, sentry_issue_body

#: Short limits, so each behaviour shows within a second or two.
QUICK = ("--header-timeout", "1", "--body-timeout", "1", "--keep-alive-timeout", "1", "--max-connections", "40",
         "--max-header-bytes", "8192", "--max-headers", "20")


def serve(tmp_path: Path, *args: str, preexec_fn=None) -> HubServer:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", "SENTRY_CLIENT_SECRET": SENTRY_SECRET}
    return HubServer(tmp_path, env, args=args, preexec_fn=preexec_fn).start()


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory):
    server = serve(tmp_path_factory.mktemp("transport"), *QUICK)
    yield server
    server.kill()


def connect(server: HubServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def signed_delivery(server: HubServer, issue_id: str) -> httpx.Response:
    body = sentry_issue_body(issue_id)
    return httpx.post(f"{server.url}/api/sentry/webhook", content=body, headers=sentry_headers(body), timeout=10)


def test_oversized_header_block_is_431(quick_server):
    sock = connect(quick_server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert "Refused a request: Request header fields too large. (431)" in quick_server.output()


def test_too_many_header_fields_is_431(quick_server):
    sock = connect(quick_server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(25)) + b"\r\n")
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"Too many request header fields" in answer


def test_endless_header_lines_are_cut_off_and_memory_stays_bounded(quick_server):
    """20 connections each stream a header line that never ends: each is answered 431 and closed
    after a few KiB, so the server holds nothing like the megabytes that were sent at it."""
    before = rss_kib(quick_server.process.pid)
    socks = [connect(quick_server) for _ in range(20)]
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Endless: ")
    cut_off = 0
    for _ in range(256):  # up to 4 MiB per connection
        for sock in socks:
            try:
                sock.sendall(b"a" * 16384)
            except (BrokenPipeError, ConnectionResetError):
                continue
        if all(sock.fileno() == -1 for sock in socks):
            break
    for sock in socks:
        answer = read_all(sock, timeout=5)
        cut_off += answer.startswith(b"HTTP/1.1 431 ") or answer == b""
        sock.close()
    assert cut_off == 20
    assert rss_kib(quick_server.process.pid) - before < 30 * 1024


def test_an_idle_connection_is_closed_after_the_header_timeout(quick_server):
    sock = connect(quick_server)
    started = time.monotonic()
    assert read_all(sock, timeout=10) == b""
    assert time.monotonic() - started < 9  # closed by the server, not by this test's own timeout


def test_slow_headers_are_answered_408_and_closed(quick_server):
    sock = connect(quick_server)
    sock.sendall(b"POST /api/sentry/webhook HTTP/1.1\r\n")
    for _ in range(40):  # a header byte every 0.1 s: never finished within the 1 s allowed
        sock.sendall(b"X")
        # Stop at the answer: writing on after the server closed would reset the connection and
        # could discard the answer before it is read.
        if select.select([sock], [], [], 0.1)[0]:
            break
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert "too slow sending the request headers" in quick_server.output()


def test_a_slow_body_is_answered_408_and_closed(quick_server):
    sock = connect(quick_server)
    sock.sendall(b"POST /api/sentry/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"a\":")
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert "too slow sending the request body" in quick_server.output()


def test_an_idle_keep_alive_connection_is_closed(quick_server):
    sock = connect(quick_server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = read_all(sock, timeout=10)  # the answer, then the close after the keep-alive timeout
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_connections_past_the_limit_are_503_and_logged(quick_server):
    held = [connect(quick_server) for _ in range(40)]
    try:
        time.sleep(0.2)
        extra = connect(quick_server)
        answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        assert "Refused connections: 40 open, the limit is 40" in quick_server.output()
    finally:
        for sock in held:
            sock.close()
    # Below the limit again, requests are served.
    deadline = time.monotonic() + 10
    while httpx.get(f"{quick_server.url}/api/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


HUNG = 1100


def _typical_fd_limit() -> None:
    """The child starts with the common soft limit of 1,024 open files (hard limit unchanged)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


@pytest.mark.slow
async def test_a_signed_delivery_is_answered_within_a_second_while_1000_connections_hang(tmp_path):
    """1,100 connections (the adversarial run's count) that are idle, trickle their headers or stall
    in the body, on a server started with the common soft limit of 1,024 open files and the
    default transport limits: before, ``accept`` failed past the limit and deliveries were reset."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < HUNG + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    limits = TransportLimits()
    assert limits.header_timeout >= 10 and limits.max_connections > HUNG  # the hung ones stay open throughout
    server = serve(tmp_path, preexec_fn=_typical_fd_limit)
    writers: list[asyncio.StreamWriter] = []
    try:
        for n in range(HUNG):
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            if n % 3 == 1:
                writer.write(b"POST /api/sentry/webhook HTTP/1.1\r\nHost: x\r\n")
            elif n % 3 == 2:
                writer.write(b"POST /api/sentry/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            writers.append(writer)
        await asyncio.gather(*(writer.drain() for writer in writers))
        async with httpx.AsyncClient(timeout=10) as client:
            for n in range(5):
                for writer in writers[1::3]:  # the slow ones keep trickling their headers
                    writer.write(b"X")
                body = sentry_issue_body(f"hang-{n}")
                started = time.monotonic()
                response = await client.post(f"{server.url}/api/sentry/webhook", content=body,
                                             headers=sentry_headers(body))
                elapsed = time.monotonic() - started
                assert response.status_code == 200, response.text
                assert elapsed < 1.0, f"answered in {elapsed:.2f} s"
    finally:
        for writer in writers:
            writer.close()
        server.kill()
    assert "Traceback" not in server.output()
