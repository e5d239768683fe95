"""A loopback TCP proxy a test can cut and restore: a database that goes away and comes back.

It runs on its own thread and event loop: Litestar's test client drives the app through a
blocking portal, so a proxy on the test's own loop would stall whenever the test awaits a request.
"""

from __future__ import annotations

import asyncio
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut()`` drops every connection and stops listening."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._blackholed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        """Listen (again) on the same port."""
        self._call(self._start())

    def cut(self) -> None:
        """Stop listening and close every proxied connection."""
        self._call(self._cut())

    def blackhole(self) -> None:
        """A network partition: connections stay open (new ones are accepted too) but nothing
        gets through in either direction, and nothing is refused or reset."""
        self._blackholed = True

    def restore(self) -> None:
        """End a ``blackhole``: data flows again on new connections."""
        self._blackholed = False

    def close(self) -> None:
        """Cut, then stop the proxy's thread."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._blackholed:
            self._writers.add(client_writer)
            while await client_reader.read(65536):
                pass  # accepted, never answered
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    if self._blackholed:
                        continue  # swallowed, as by a dead link
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


def proxy_in_front_of(database_url: str) -> tuple[TcpProxy, str]:
    """A started proxy to the database of ``database_url``, and the URL that goes through it."""
    import sqlalchemy as sa

    url = sa.engine.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
