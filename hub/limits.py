"""The transport limits of ``hub serve``, kept apart from the protocol (hub.transport, which needs
uvicorn and httptools): the ``hub`` command's parser shows these defaults, and importing this
costs next to nothing (a named tuple; json and logging imported where used), so ``hub --help``
starts as fast as Python does."""

from __future__ import annotations

import collections
import os

__all__ = ["ENV", "FD_RESERVE", "TransportLimits", "current_limits", "fit_fd_limit"]

#: The environment variable carrying the limits to uvicorn's worker processes.
ENV = "HUB_TRANSPORT"


_FIELDS = ("max_header_bytes", "max_headers", "header_timeout", "body_timeout", "keep_alive_timeout", "max_connections")


class TransportLimits(collections.namedtuple("TransportLimits", _FIELDS,
                                             defaults=(32 * 1024, 100, 10.0, 20.0, 5.0, 4096))):
    """Per-process transport limits; the defaults are ``hub serve``'s.

    - ``max_header_bytes``: request line plus header fields of one request. Sentry's headers are
      under 1 KiB; nginx allows 4 x 8 KiB by default, Node.js 16 KiB.
    - ``max_headers``: header fields of one request (gunicorn's default limit is 100; Sentry sends about 10).
    - ``header_timeout``: seconds to send the headers, from the connection (or the first byte after
      a keep-alive pause).
    - ``body_timeout``: seconds to send the body once the headers are in (1 MiB at 1 Mbit/s takes 8 s).
    - ``keep_alive_timeout``: seconds an idle keep-alive connection is kept after a response.
    - ``max_connections``: open connections per process; more are answered 503 and closed.
    """

    __slots__ = ()

    def to_env(self) -> str:
        """The limits as the value of ``$HUB_TRANSPORT``."""
        import json

        return json.dumps(self._asdict())

    @classmethod
    def from_env(cls, environ=os.environ) -> "TransportLimits":
        """The limits ``hub serve`` handed down, else the defaults."""
        import json

        raw = environ.get(ENV)
        return cls(**json.loads(raw)) if raw else cls()


_limits: TransportLimits | None = None


def current_limits() -> TransportLimits:
    """This process's limits, read from the environment once."""
    global _limits
    if _limits is None:
        _limits = TransportLimits.from_env()
    return _limits


#: File descriptors kept free beside client connections: database pools, outbound HTTP, logs.
FD_RESERVE = 512


def fit_fd_limit(limits: TransportLimits) -> TransportLimits:
    """Raise this process's open-file soft limit to hold ``max_connections``; lower the cap if it cannot.

    Past the soft limit (often 1,024) ``accept`` fails and clients are reset with nothing logged,
    so the connection cap must stay below it. Worker processes inherit the raised limit.
    """
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to adjust
        return limits
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        allowed = max(16, soft - FD_RESERVE)
        import logging

        logging.getLogger("hub.transport").warning("Open-file limit is %d: at most %d connections instead of %d (raise `ulimit -n`)",
                    soft, allowed, limits.max_connections)
        return limits._replace(max_connections=allowed)
    return limits
