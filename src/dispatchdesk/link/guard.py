"""The link endpoint's connection guard: deadlines and caps around aiohttp's server.

aiohttp's server has no deadline for a request's headers or body (its keep-alive timer does not
stop bytes dripped one by one), and no cap on connections. Anyone who can reach the port could
hold it with slowloris connections, with a Content-Length larger than the body sent, or with
thousands of idle connections until the process runs out of file descriptors. This layer sits
between the listening socket and aiohttp's protocol:

- **Header deadline**: a connection must deliver a request's headers within
  ``Limits.header_seconds`` of being opened, and a kept-alive connection its next request's
  headers within ``Limits.idle_seconds`` of the last answer; else it is closed.
- **Body deadline**: the body must be in within ``Limits.body_seconds`` of the headers.
- **Caps**: at most ``Limits.per_peer`` open connections from one address and ``Limits.total``
  in all (never more than half the process's file descriptors). A connection over the
  per-address cap is reset at once. When the total is reached, the address holding the most
  connections gives up its oldest idle one to a newcomer from an address holding fewer; a
  newcomer from the biggest holder is reset. So a flood cannot take the descriptors valid
  partners need, and its connections push out each other, never a partner's few.
- **The health check always gets in**: a connection from the machine itself (127.0.0.1, ::1)
  that the caps would refuse takes one of ``Limits.probe_reserve`` places kept over the caps
  for a service manager's probe. Such a connection may ask only ``GET /healthz``
  (``Limits.probe_path``; anything else is answered 503), must send it within
  ``Limits.probe_seconds``, and is closed after the answer. So a flood (from afar, or through a
  proxy on this machine) cannot make the probe fail and get a healthy relay restarted.
- **Quiet under attack**: a warning that repeats (a refused connection, ``Too many open
  files`` from the accept loop, aiohttp's per-connection errors) is logged once per
  ``Limits.log_interval`` seconds with a count, not once per connection.

Use :func:`start_site` instead of ``web.TCPSite``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

__all__ = ["PROBE_ADDRESSES", "GuardedSite", "Limits", "RepeatFilter", "start_site"]

log = logging.getLogger("dispatchdesk.link.guard")


@dataclass(frozen=True)
class Limits:
    header_seconds: float = 10.0  # connect -> the first request's headers in full
    idle_seconds: float = 20.0  # an answer -> the next request's headers on a kept-alive connection
    body_seconds: float = 15.0  # headers -> the last byte of the body (1 MB at most)
    per_peer: int = 64  # open connections from one address
    total: int = 1024  # open connections in all (and at most half the file descriptors)
    backlog: int = 128  # asyncio accepts up to this many per loop turn: more makes every turn long
    log_interval: float = 60.0
    probe_reserve: int = 4  # places over the caps for the health check from this machine
    probe_seconds: float = 2.0  # such a connection's deadline for its request
    probe_path: str = "/healthz"


#: Where a service manager's probe comes from: the machine itself.
PROBE_ADDRESSES = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def _fd_budget() -> int | None:
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    return max(16, soft // 2)


class RepeatFilter(logging.Filter):
    """Let a warning through once per `interval` seconds; count the repeats and say how many.

    Two records are "the same" when they come from the same logger with the same first line of
    message and the same kind of exception. Info and debug records always pass.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        first = str(record.msg).split("\n", 1)[0]
        key = (record.name, record.levelno, first, type(exc).__name__, getattr(exc, "errno", None))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        repeats, since = (seen[1], seen[0]) if seen is not None else (0, now)
        if len(self._seen) > 1000:  # many different messages: forget the old ones
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval}
        self._seen[key] = (now, 0)
        if repeats:
            record.msg = f"{record.getMessage()} [and {repeats} more like it in the last {now - since:.0f} s]"
            record.args = None
        if seen is not None:  # the traceback was logged the first time
            record.exc_info = None
            record.exc_text = None
        return True


#: the loggers that write one record per connection or per accept error
_NOISY = ("asyncio", "aiohttp.server", "aiohttp.web", "aiohttp.access", "dispatchdesk.link.guard")


class _Guard:
    def __init__(self, limits: Limits, server: Callable[[], asyncio.Protocol]) -> None:
        self.limits = limits
        budget = _fd_budget()
        self.total = min(limits.total, budget) if budget else limits.total
        self.server = server
        self.open: dict[str, int] = {}
        self.count = 0
        self.refused = 0
        self.probes = 0  # connections let in over the caps for the health check
        self.conns: dict[Any, _Conn] = {}  # transport -> connection
        #: per address, its connections with no request under way, oldest first: when the total
        #: is reached, the address holding the most connections gives its oldest idle one up
        self.waiting: dict[str, dict[_Conn, None]] = {}

    def idle(self, conn: _Conn) -> None:
        if not conn.probe:
            self.waiting.setdefault(conn.peer, {})[conn] = None

    def busy(self, conn: _Conn) -> None:
        mine = self.waiting.get(conn.peer)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.waiting[conn.peer]

    def victim(self, newcomer: str) -> _Conn | None:
        """The connection to close for a newcomer from `newcomer` when the total is reached: the
        oldest idle one of the address holding the most, if that address holds more than the
        newcomer's would then; None: refuse the newcomer (a flood's own connections push each other
        out, never a partner's few)."""
        if not self.waiting:
            return None
        peer = max(self.waiting, key=lambda p: self.open.get(p, 0))
        if self.open.get(newcomer, 0) + 1 >= self.open.get(peer, 0):
            return None  # it would hold as many as the biggest: no gain in swapping
        return next(iter(self.waiting[peer]))

    def protocol(self) -> asyncio.Protocol:
        return _Conn(self)

    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        conn = self.conns.get(request.transport)
        if conn is not None:
            conn.request_started(request)
        try:
            if conn is not None and conn.probe:
                if request.method != "GET" or request.path != self.limits.probe_path:
                    resp: web.StreamResponse = web.json_response(
                        {"ok": False, "code": "busy",
                         "error": "The endpoint is at its connection limit; this place is kept for the "
                                  f"health check (GET {self.limits.probe_path}) only."},
                        status=503, headers={"Retry-After": "5"})
                else:
                    resp = await handler(request)
                resp.force_close()  # one answer per place kept for the probe
                return resp
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_done()


class _Conn(asyncio.Protocol):
    """One connection: counted, timed, and handed to aiohttp's protocol if under the caps."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.timer: asyncio.TimerHandle | None = None
        self.request: web.Request | None = None
        self.counted = False  # holds a place in the caps
        self.probe = False  # holds a place kept for the health check instead

    # -- asyncio.Protocol
    def connection_made(self, base: asyncio.BaseTransport) -> None:
        g = self.guard
        transport = cast(asyncio.Transport, base)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self._over_caps() and self.peer in PROBE_ADDRESSES and g.probes < g.limits.probe_reserve:
            # the machine itself, perhaps a service manager's probe: a place kept for it
            self.probe = self.counted = True
            g.probes += 1
            g.conns[transport] = self
            self._arm(g.limits.probe_seconds, "its health check")
            return
        if g.open.get(self.peer, 0) >= g.limits.per_peer:
            g.refused += 1
            log.warning("link endpoint: refused a connection from %s (%d connections open from that "
                        "address)", self.peer, g.limits.per_peer)
            transport.abort()
            return
        if g.count >= g.total:
            # full: the address holding the most connections gives up its oldest idle one (an
            # idle or slowloris connection), unless the newcomer's would then hold the most
            victim = g.victim(self.peer)
            g.refused += 1
            if victim is None:
                log.warning("link endpoint: refused a connection from %s (%d connections open in all)",
                            self.peer, g.total)
                transport.abort()
                return
            log.warning("link endpoint: %d connections open; closed an idle one from %s, which holds "
                        "the most", g.total, victim.peer)
            victim.close()
        g.count += 1
        g.open[self.peer] = g.open.get(self.peer, 0) + 1
        g.conns[transport] = self
        self.counted = True
        g.idle(self)
        # aiohttp's protocol (a parser and a task) is made when the first byte arrives: a flood
        # of connections that never send anything costs only this small object each
        self._arm(g.limits.header_seconds, "its request's headers")

    def _over_caps(self) -> bool:
        """Would the caps refuse this connection (with no idle one to push out for it)?"""
        g = self.guard
        if g.open.get(self.peer, 0) >= g.limits.per_peer:
            return True
        return g.count >= g.total and g.victim(self.peer) is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        inner, self.inner = self.inner, None
        self.request = None
        if inner is not None:
            inner.connection_lost(exc)

    def close(self) -> None:
        """Reset the connection now, and free its place at once (connection_lost comes later)."""
        self._release()
        if self.transport is not None:
            self.transport.abort()

    def _release(self) -> None:
        if not self.counted:
            return
        self.counted = False
        g = self.guard
        self._disarm()
        if self.probe:
            g.probes -= 1
            g.conns.pop(self.transport, None)
            return
        g.busy(self)
        g.count -= 1
        left = g.open.get(self.peer, 1) - 1
        if left > 0:
            g.open[self.peer] = left
        else:
            g.open.pop(self.peer, None)
        g.conns.pop(self.transport, None)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            if not self.counted or self.transport is None:
                return
            self.inner = self.guard.server()
            self.inner.connection_made(self.transport)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            return self.inner.eof_received()  # type: ignore[no-any-return]
        return False  # closed before a byte was sent: close our side too

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    # -- deadlines
    def request_started(self, request: web.Request) -> None:
        self.request = request
        self.guard.busy(self)
        self._arm(self.guard.limits.body_seconds, "the body", body=True)

    def request_done(self) -> None:
        self.request = None
        if self.counted:
            self.guard.idle(self)
        if self.probe:  # closed after its answer; this only bounds the close
            self._arm(self.guard.limits.probe_seconds, "its health check")
            return
        self._arm(self.guard.limits.idle_seconds, "its next request's headers")

    def _arm(self, seconds: float, what: str, *, body: bool = False) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(seconds, self._expired, what, body)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self, what: str, body: bool) -> None:
        self.timer = None
        if not self.counted or self.transport is None:
            return
        if body:
            req = self.request
            if req is None or req.content.is_eof() or req.content.at_eof():
                return  # the body is in; the answer is being worked out
        log.warning("link endpoint: closed a connection from %s that did not send %s in time", self.peer, what)
        self.close()


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` with the guard between the socket and aiohttp (see the module's doc)."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, limits: Limits) -> None:
        super().__init__(runner, host, port, backlog=limits.backlog)
        self.limits = limits
        self.guard: _Guard | None = None
        self._filter = RepeatFilter(limits.log_interval)

    async def start(self) -> None:
        server = self._runner.server
        assert server is not None
        guard = self.guard
        assert guard is not None, "use start_site()"
        self._runner._reg_site(self)
        loop = asyncio.get_running_loop()
        for name in _NOISY:
            logging.getLogger(name).addFilter(self._filter)
        try:
            self._server = await loop.create_server(guard.protocol, self._host, self._port,
                                                    backlog=self._backlog)
        except BaseException:
            self._quiet_off()
            self._runner._unreg_site(self)
            raise
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        try:
            await super().stop()
            # aiohttp's shutdown closes the connections it knows; those that never sent a byte
            # it never saw
            if self.guard is not None:
                for conn in [c for c in self.guard.conns.values() if c.inner is None]:
                    conn.close()
        finally:
            self._quiet_off()

    def _quiet_off(self) -> None:
        for name in _NOISY:
            logging.getLogger(name).removeFilter(self._filter)

    @property
    def open_connections(self) -> int:
        return self.guard.count if self.guard else 0

    @property
    def refused(self) -> int:
        return self.guard.refused if self.guard else 0


async def start_site(app: web.Application, host: str | None, port: int, *, limits: Limits | None = None,
                     shutdown_timeout: float = 2.0) -> tuple[web.AppRunner, GuardedSite]:
    """Serve `app` on host:port behind the guard; returns the runner (clean it up to stop)."""
    limits = limits or Limits()
    guard_ref: list[_Guard] = []

    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        return await guard_ref[0].middleware(request, handler)

    app.middlewares.append(web.middleware(middleware))
    # aiohttp's own keep-alive timer closes an idle connection; ours are shorter, so the
    # server's is only a backstop. lingering_time: how long to drain an unread body at most.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout,
                           keepalive_timeout=max(limits.idle_seconds, limits.header_seconds) * 2,
                           lingering_time=min(2.0, limits.body_seconds))
    await runner.setup()
    assert runner.server is not None
    site = GuardedSite(runner, host, port, limits)
    site.guard = _Guard(limits, runner.server)
    guard_ref.append(site.guard)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site
