"""The HTTP transport of ``hub serve``: uvicorn's httptools protocol with limits anyone can hit.

Anyone who can connect can hold the server's memory and sockets without ever sending a valid
request: endless header lines, headers or bodies sent a byte at a time, connections opened and
left idle. uvicorn bounds none of these on its httptools protocol (its keep-alive timer only
starts after a first response), so this subclass adds, per connection:

- a cap on the bytes and the number of header fields of one request (431, connection closed);
  the bytes an unfinished header block may buffer are bounded by the same cap;
- a deadline to send a request's headers, counted from the connection or from its first byte
  after a keep-alive pause (an idle new connection is a slow one), and one for the body;
- a cap on open connections per process: past it, a connection is answered 503 and closed at
  once, so sockets and file descriptors stay below the process's limit and a signed delivery
  still gets through.

Every refusal is logged, at most one line per kind every ``LOG_EVERY_SECONDS``, with counts.
The limits come from ``hub serve``'s flags through the environment (``HUB_TRANSPORT``), because
uvicorn's worker processes build their protocol objects from an import string.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hub.limits import TransportLimits, current_limits

__all__ = ["PROTOCOL", "GuardedHttpToolsProtocol", "TransportLimits", "current_limits"]

log = logging.getLogger("hub.transport")

#: What ``hub serve`` passes as uvicorn's ``http`` (an import string survives worker spawning).
PROTOCOL = "hub.transport:GuardedHttpToolsProtocol"
LOG_EVERY_SECONDS = 10.0


class _Refuse(Exception):
    """Raised inside a parser callback to stop parsing and answer ``status``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _RateLimitedLog:
    """One log line per kind of refusal every LOG_EVERY_SECONDS, with how many happened since."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.logged_at: dict[str, float] = {}

    def note(self, kind: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        if now - self.logged_at.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            count, self.counts[kind] = self.counts[kind], 0
            self.logged_at[kind] = now
            log.log(level, message + " (%d in the last %d s)", *args, count, int(LOG_EVERY_SECONDS))


_refusals = _RateLimitedLog()


def _plain_response(status: int, text: str) -> bytes:
    body = text.encode("ascii", "replace")
    return b"".join([STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
                     b"content-length: ", str(len(body)).encode(), b"\r\n", b"connection: close\r\n\r\n", body])


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header, time and connection limits (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = current_limits()
        self.timeout_keep_alive = self.limits.keep_alive_timeout
        #: "headers" (waiting for a request's headers), "body", "app" (the app has the request), "idle".
        self._phase = "headers"
        self._header_bytes = 0
        self._header_fields = 0
        self._buffered = 0  # bytes received while waiting for the current request's headers
        self._started = False  # has the current request sent any byte yet
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse past ``max_connections``; otherwise start the clock for the first request's headers."""
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport
            self._refused = True
            _refusals.note("connections", "Refused connections: %d open, the limit is %d (hub serve --max-connections)",
                           len(self.connections), self.limits.max_connections)
            transport.write(_plain_response(503, "Too many open connections, try again later."))
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; answer 431 for oversized headers, 400 for a malformed request."""
        if self._refused:
            return
        if self._phase == "idle":
            # The first byte after a keep-alive pause: the next request's headers are on the clock.
            self._phase = "headers"
            self._arm(self.limits.header_timeout)
        self._started = True
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # uvicorn's own handling (the hub serves no websocket; it says so and answers nothing).
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            refusal = exc.__context__ if isinstance(exc.__context__, _Refuse) else None
            if refusal is not None:
                self._refuse(refusal.status, refusal.reason)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._phase == "headers":
            # Still inside a header block: httptools buffers a partial line until it ends (no
            # callback sees it), so bound what one unfinished request holds by the bytes received.
            self._buffered += len(data)
            if self._buffered > self.limits.max_header_bytes:
                self._refuse(431, "Request header fields too large.")

    # Parser callbacks

    def on_message_begin(self) -> None:
        """A new request: count its header bytes and fields from zero."""
        super().on_message_begin()
        self._header_bytes = 0
        self._header_fields = 0

    def on_url(self, url: bytes) -> None:
        """Count the request line against the header budget."""
        self._header_bytes += len(url)
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refuse(431, "Request header fields too large.")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each field against both header limits."""
        self._header_fields += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_fields > self.limits.max_headers:
            raise _Refuse(431, "Too many request header fields.")
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refuse(431, "Request header fields too large.")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers are in: the body is on the clock now."""
        self._phase = "body"
        self._buffered = 0
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: the app has it, no deadline until its response is sent."""
        self._phase = "app"
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Back to idle: uvicorn arms its keep-alive timer (``keep_alive_timeout``)."""
        self._phase = "idle"
        self._started = False
        super().on_response_complete()

    # Deadlines and refusals

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._phase in ("app", "idle"):
            return
        if self._phase == "headers" and not self._started:
            # Connected and never said a word: close it as uvicorn closes an idle keep-alive.
            _refusals.note("idle", "Closed connections idle for %s s without a request (hub serve --header-timeout)",
                           self.limits.header_timeout, level=logging.INFO)
            self.transport.close()
            return
        what, limit = ("headers", self.limits.header_timeout) if self._phase == "headers" else \
            ("body", self.limits.body_timeout)
        _refusals.note(what, "Closed connections too slow sending the request %s (over %s s)", what, limit)
        self._answer_and_close(408, f"Request {what} not received in time.")

    def _refuse(self, status: int, reason: str) -> None:
        _refusals.note(f"refuse-{status}", "Refused a request: %s (%d)", reason, status)
        self._answer_and_close(status, reason)

    def _answer_and_close(self, status: int, reason: str) -> None:
        self._disarm()
        self._refused = True
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        # An app waiting for the body learns of the closed connection (http.disconnect) and its
        # answer, if any, is dropped: uvicorn writes nothing to a disconnected cycle.
        self.transport.write(_plain_response(status, reason))
        self.transport.close()
