"""Local servers for tests and the benchmark (PostgreSQL, gunicorn, localstripe) listen on
127.0.0.1 only, each on a port the kernel says is free."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
