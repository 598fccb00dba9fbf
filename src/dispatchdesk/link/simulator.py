"""The demo simulator: the demo's partners, alive on loopback.

    sim = DemoSimulator(depot)        # the console starts it with --demo
    await sim.start()                 # on the caller's event loop
    ...
    await sim.stop()

It serves one endpoint per HTTP partner of the depot whose link URL points at
http://127.0.0.1:<port>/ (the demo's partners: path /link/<slug>, on the port the demo was
built with, which the simulator finds in their URLs unless given one). Each checks our
signature with that partner's secret and takes the notice, then answers the way a real
partner would, signed, to this depot's own link endpoint (which the simulator serves on a
free loopback port of its own, so it works whether or not the console listens):

- every notice is acknowledged a moment later (notice.answer accepted), so a newcomer sees
  held -> queued -> sent -> acknowledged;
- a subcontractor or warehouse that gets an order reports it Accepted soon after;
- a warehouse starts picking a little later; a cancellation that arrives after that is
  refused ("Picking has started; the order will be handled as a return"); orders it had before
  the simulator started are being picked already;
- now and then a channel's customer asks to cancel one of that channel's open orders
  (order.cancel_request): an untouched Created one is cancelled at once, others get the flag.

E-mail partners: a small SMTP sink on the next port takes the demo's e-mail, and the depot's
smtp_host/smtp_port are pointed at it if they are not set, so e-mail notices go out too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from ..domain import NoticeKind
from ..services import ERRORS, Depot, DispatchError, set_setting
from ..services.outbox import LinkPartner, link_partners, open_orders_from
from . import DEMO_PARTNER_PORT
from .endpoint import make_app
from .ports import take_reserved_port
from .signing import SignatureError, sign, verify

__all__ = ["DEMO_HOST", "DemoSimulator", "SimulatorError", "Timings"]

log = logging.getLogger("dispatchdesk.link.simulator")

DEMO_HOST = "127.0.0.1"


def _reserved_socket(port: int) -> socket.socket | None:
    """The socket the demo build holds for `port` in this process (link.ports), if any."""
    return take_reserved_port(port)


class SimulatorError(DispatchError):
    """The simulator cannot start (its port is taken, say); the message says what to do."""


@dataclass(frozen=True)
class Timings:
    """Seconds between what the simulated partners do. Tests make them short."""

    answer: float = 2.0  # a notice is acknowledged
    accept: float = 4.0  # an order is reported Accepted
    picking: float = 25.0  # a warehouse starts picking an order it took
    first_cancel_request: float = 40.0  # a channel's customer first asks to cancel
    cancel_request_every: float = 180.0  # ... and then again


@dataclass
class _Known:
    """What a simulated partner remembers of one of our orders."""

    received: float
    picking_from: float | None = None
    refs: dict[str, str] = field(default_factory=dict)


class DemoSimulator:
    """The demo's partners on loopback; see the module's docstring."""

    def __init__(self, depot: Depot, *, port: int | None = None, host: str = DEMO_HOST,
                 timings: Timings | None = None, smtp: bool = True, seed: int | None = None) -> None:
        self.depot = depot
        self.host = host
        #: None: the port the depot's demo partners point at, found when it starts
        self._given_port = port
        self.port = DEMO_PARTNER_PORT if port is None else port
        self.timings = timings or Timings()
        self.smtp = smtp
        self.rng = random.Random(seed)
        #: short text: "off", "running", "port 8731 busy"...
        self.state = "off"
        #: what the simulated partners did, newest last: (time, partner, text)
        self.log: list[tuple[float, str, str]] = []
        self._runner: web.AppRunner | None = None
        self._ours: web.AppRunner | None = None
        self._our_url = ""
        self._smtp_server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._known: dict[tuple[str, str], _Known] = {}
        self._partners: dict[str, LinkPartner] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/{tail:.*}", self._take)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        try:
            if self._given_port is None:
                self.port = await asyncio.to_thread(self._demo_port)
            sock = _reserved_socket(self.port)
            site: web.BaseSite = (web.SockSite(self._runner, sock) if sock is not None
                                  else web.TCPSite(self._runner, self.host, self.port))
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            self.state = f"port {self.port} busy"
            raise SimulatorError(
                f"The demo simulator cannot listen on {self.host}:{self.port} ({e.strerror or e}); "
                "is another demo running? The demo works without it, but partners will not answer."
            ) from None
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        # our own endpoint, where the simulated partners send their messages
        self._ours = web.AppRunner(make_app(self.depot), access_log=None, shutdown_timeout=0.5)
        await self._ours.setup()
        await web.TCPSite(self._ours, self.host, 0).start()
        self._our_url = f"http://{self.host}:{self._ours.addresses[0][1]}/link"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        if self.smtp:
            await self._start_smtp()
        self._spawn(self._cancel_requests())
        self.state = "running"
        log.info("demo simulator on http://%s:%d/ (partners answer to %s)", self.host, self.port, self._our_url)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        for runner in (self._runner, self._ours):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._ours = None
        if self._smtp_server is not None:
            self._smtp_server.close()
            await self._smtp_server.wait_closed()
            self._smtp_server = None
        self.state = "off"

    def _demo_port(self) -> int:
        """The port the depot's demo partners point at (each demo has its own), else the
        default one."""
        ports: Counter[int] = Counter()
        try:
            partners = link_partners(self.depot)
        except ERRORS:
            partners = []
        for p in partners:
            u = urlsplit(p.url or "")
            if u.hostname in (self.host, "localhost") and u.path.startswith("/link/") and u.port:
                ports[u.port] += 1
        return ports.most_common(1)[0][0] if ports else DEMO_PARTNER_PORT

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _note(self, partner: str, text: str) -> None:
        self.log.append((time.time(), partner, text))
        del self.log[:-200]
        log.info("demo %s: %s", partner, text)

    # ------------------------------------------------------------------ the partners' side
    async def _simulated(self) -> dict[str, LinkPartner]:
        """Partners whose link URL points at the simulator, by URL path."""
        out = {}
        for p in await asyncio.to_thread(link_partners, self.depot):
            if not p.url or not p.secret:
                continue
            u = urlsplit(p.url)
            if u.hostname in (self.host, "localhost") and (u.port or 80) == self.port:
                out[u.path or "/"] = p
        self._partners = out
        return out

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "simulator": self.state})

    async def _take(self, request: web.Request) -> web.Response:
        partners = await self._simulated()
        p = partners.get(request.path)
        if p is None:
            return web.json_response({"error": f"No demo partner at {request.path}."}, status=404)
        text = (await request.read()).decode("utf-8", errors="replace")
        try:
            verify(p.secret or "", text, dict(request.headers))
        except SignatureError as e:
            return web.json_response({"error": str(e)}, status=401)
        try:
            msg = json.loads(text)
        except ValueError:
            return web.json_response({"error": "The body is not JSON."}, status=400)
        self._spawn(self._react(p, msg))
        return web.json_response({"ok": True, "id": msg.get("id")})

    async def _react(self, p: LinkPartner, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        ours = msg.get("order")  # our number
        t = self.timings
        if kind == "notice.answer":
            return
        if kind == "link.hello":
            # the demo's partners agree to what the depot agrees to: their hello says so
            agree = bool((msg.get("capabilities") or {}).get("auto_trash"))
            self._note(p.name, f"{'agrees' if agree else 'does not agree'} to auto-trash")
            await self._send(p, {"kind": "link.hello", "capabilities": {"auto_trash": agree}})
            return
        now = time.monotonic()
        key = (p.name, str(ours))
        if kind == "order.new":
            self._known[key] = _Known(now)
        await asyncio.sleep(t.answer * self.rng.uniform(0.7, 1.3))
        outcome, message = "accepted", "Noted."
        if kind == "order.new":
            message = f"Received; our reference {self._ref(p, ours)}."
        elif kind == "order.cancellation" and p.role == "warehouse":
            known = self._known.get(key)
            picking = known is None or (known.picking_from is not None and time.monotonic() >= known.picking_from)
            if picking:
                outcome, message = "refused", "Picking has started; the order will be handled as a return."
            else:
                message = "Cancelled; nothing was picked."
        elif kind == "order.revoked":
            message = "Taken back; our driver will not come."
        elif kind == "order.cancel_request":
            message = "We will cancel it."
        try:
            what = NoticeKind(str(kind)).label
        except ValueError:
            what = str(kind)
        self._note(p.name, f"{outcome} the {what} for order {ours}: {message}")
        await self._send(p, {"kind": "notice.answer", "notice": msg.get("id"), "outcome": outcome,
                             "message": message, "order": self._ref(p, ours), "your_ref": ours})
        if kind == "order.new" and p.role in ("subcontractor", "warehouse"):
            await asyncio.sleep(max(0.0, t.accept - t.answer) * self.rng.uniform(0.7, 1.3))
            self._note(p.name, f"accepted order {ours}")
            await self._send(p, {"kind": "order.status", "order": self._ref(p, ours), "your_ref": ours,
                                 "status": "accepted"})
            if p.role == "warehouse" and key in self._known:
                self._known[key].picking_from = time.monotonic() + t.picking * self.rng.uniform(0.8, 1.2)

    def _ref(self, p: LinkPartner, ours: Any) -> str:
        prefix = "".join(w[0] for w in p.name.split()[:2]).upper() or "P"
        return f"{prefix}-{ours}"

    async def _send(self, p: LinkPartner, body: dict[str, Any], tries: int = 5) -> dict[str, Any] | None:
        """Send one signed message from partner `p` to our endpoint."""
        assert self._session is not None
        msg = {"id": f"sim-{uuid.uuid4()}", **body}
        text = json.dumps(msg)
        for attempt in range(tries):
            headers = {"content-type": "application/json", **sign(p.secret or "", msg["id"], text)}
            try:
                async with self._session.post(self._our_url, data=text.encode(), headers=headers) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status < 500:
                        if resp.status >= 400:
                            log.info("demo %s: our endpoint refused %s: %s", p.name, body.get("kind"), answer)
                        return answer if isinstance(answer, dict) else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                log.info("demo %s: cannot reach our endpoint: %s", p.name, e)
            await asyncio.sleep(0.5 * (attempt + 1))
        return None

    # ------------------------------------------------------------------ a customer changes their mind
    async def _cancel_requests(self) -> None:
        t = self.timings
        await asyncio.sleep(t.first_cancel_request)
        turn = 0
        while True:
            try:
                await self._one_cancel_request(created_first=turn % 2 == 0)
            except ERRORS as e:
                log.info("demo: no cancellation request this time: %s", e)
            turn += 1
            await asyncio.sleep(t.cancel_request_every * self.rng.uniform(0.8, 1.2))

    async def _one_cancel_request(self, *, created_first: bool) -> str | None:
        """A channel's customer asks to cancel one of that channel's open orders. Returns its number."""
        channels = [p for p in (await self._simulated()).values() if p.role == "channel"]
        self.rng.shuffle(channels)
        for p in channels:
            orders = await asyncio.to_thread(open_orders_from, self.depot, p.name)
            candidates = [o for o in orders if not o[3] and o[1]]
            if not candidates:
                continue
            candidates.sort(key=lambda o: (o[2] != "created") == created_first)
            number, ref, status, _flag = candidates[0] if created_first else candidates[-1]
            self._note(p.name, f"a customer asks to cancel order {number} ({status})")
            await self._send(p, {"kind": "order.cancel_request", "order": ref, "your_ref": number,
                                 "message": "The customer changed their mind.", "lines": {}})
            return number
        return None

    # ------------------------------------------------------------------ an SMTP sink for the demo's e-mail
    async def _start_smtp(self) -> None:
        port = self.port + 1
        try:
            self._smtp_server = await asyncio.start_server(self._smtp_session, self.host, port)
        except OSError as e:
            try:  # the next port is taken (another demo's, say): any free one
                self._smtp_server = await asyncio.start_server(self._smtp_session, self.host, 0)
            except OSError:
                log.info("demo: no SMTP sink on %s:%d (%s)", self.host, port, e)
                return
            port = self._smtp_server.sockets[0].getsockname()[1]
        try:
            if not await asyncio.to_thread(self.depot.setting, "smtp_host"):
                await asyncio.to_thread(set_setting, self.depot, "smtp_host", self.host)
                await asyncio.to_thread(set_setting, self.depot, "smtp_port", str(port))
        except ERRORS as e:
            log.info("demo: cannot point the depot's e-mail at the sink: %s", e)

    async def _smtp_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Just enough SMTP to take a message: it is noted, not kept."""
        rcpt: list[str] = []

        def say(line: str) -> None:
            writer.write((line + "\r\n").encode())

        try:
            say(f"220 {self.host} dispatchdesk demo mail sink")
            await writer.drain()
            while True:
                line = (await asyncio.wait_for(reader.readline(), 30)).decode("utf-8", "replace").strip()
                if not line:
                    break
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    say(f"250-{self.host}")
                    say("250 8BITMIME")
                elif verb in ("HELO", "MAIL", "RSET", "NOOP"):
                    say("250 OK")
                elif verb == "RCPT":
                    rcpt.append(line.split(":", 1)[-1].strip(" <>"))
                    say("250 OK")
                elif verb == "DATA":
                    say("354 End data with <CR><LF>.<CR><LF>")
                    await writer.drain()
                    while (await asyncio.wait_for(reader.readline(), 30)) not in (b".\r\n", b".\n", b""):
                        pass
                    self._note(", ".join(rcpt) or "e-mail", "an e-mail arrived")
                    rcpt = []
                    say("250 OK: queued")
                elif verb == "QUIT":
                    say("221 Bye")
                    await writer.drain()
                    break
                else:
                    say("502 Command not implemented")
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # for tests and the console: ask a channel's customer to cancel now
    async def customer_cancels(self, *, created_first: bool = True) -> str | None:
        return await self._one_cancel_request(created_first=created_first)
