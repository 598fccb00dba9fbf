"""Ports held for a demo's simulated partners, in this process.

A live demo points its partners at a free port of its own (so that two demos on one machine do
not clash), chosen while the depot is built and held open until the simulator listens on it.
Cheap to import: nothing of the link's network code comes with it.
"""

from __future__ import annotations

import socket
import threading

#: Ports reserved for a demo simulator in this process: a socket bound (not listening) to each,
#: so that no other program or demo takes the port between the build and the simulator's start.
_RESERVED: dict[int, socket.socket] = {}
_RESERVED_LOCK = threading.Lock()


def reserve_port(host: str = "127.0.0.1") -> int:
    """A free port on `host`, held for this process's demo simulator (take_reserved_port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    with _RESERVED_LOCK:
        _RESERVED[port] = sock
    return port


def take_reserved_port(port: int) -> socket.socket | None:
    """The bound socket reserve_port holds for `port` (the caller listens on it), or None."""
    with _RESERVED_LOCK:
        return _RESERVED.pop(port, None)
