"""The relay: claims due notices, delivers them, records every attempt; serves the link endpoint.

    relay = Relay(depot, listen="127.0.0.1:8730")
    await relay.start()          # on the caller's event loop (the console's Textual loop)
    relay.state, relay.waiting   # "idle", "sending 3", "partner Swift Haulage down", ...
    await relay.stop()

It runs inside the console by default, and alone as `dispatchdesk relay` (run_relay). Every
database call runs in a thread (asyncio.to_thread), so the loop never blocks on the database;
no network call ever happens inside a database transaction: a claim commits, then the
delivery runs, then its result is recorded in a new transaction, and only if the claim is still
held (services.outbox). Several relays on one database are safe: each notice is claimed by one.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from ..domain import Transport
from ..services import ERRORS, Depot, DispatchError, presence, run_auto_archive
from ..services.health import schema_version
from ..services.outbox import (
    ClaimedNotice,
    Delivery,
    Outcome,
    RetryPolicy,
    peek,
    queue_hellos,
    record_and_claim,
    release_claims,
    renew_claims,
)
from ..text import clean
from .endpoint import make_app
from .guard import GuardedSite, Limits, start_site
from .transports import DEADLINE_SECONDS, EmailTransport, HttpTransport, SmtpSettings

__all__ = ["Relay", "RelayError", "RelayStats", "parse_listen", "run_relay"]

#: How long "partner X down" stays in the state after the last failed attempt to reach X.
DOWN_FOR = 30 * 60

#: /healthz answers 503 when the relay's loop has not turned, or no database call has gone
#: through, for this long (seconds): three times the database's busy timeout.
HEALTH_STALE_SECONDS = 15.0

#: A claim's lease (SPEC 7): short, and renewed by a heartbeat every third of it while the
#: worker lives, so that a worker that dies gives up its claims within seconds.
LEASE_SECONDS = 5.0

#: How often the relay archives the orders done with (services.archiving), and how long after
#: it starts it first does: nothing of it at start-up, when the console draws its board.
ARCHIVE_EVERY = 600.0
ARCHIVE_FIRST_AFTER = 60.0

log = logging.getLogger("dispatchdesk.link")


class RelayError(DispatchError):
    """The relay cannot start (for example: the listen address is taken). A DispatchError, so
    the command line and the console show its message as a sentence."""


def parse_listen(listen: str) -> tuple[str, int]:
    """'HOST:PORT', '[::1]:PORT' or ':PORT' (every interface) -> (host, port)."""
    text = listen.strip()
    host, sep, port_s = text.rpartition(":")
    if not sep or not port_s.isdigit():
        raise RelayError(f"--listen {listen!r} must be HOST:PORT (for example 127.0.0.1:8730, or :8730 for every interface).")
    port = int(port_s)
    if not 0 <= port < 65536:
        raise RelayError(f"--listen {listen!r}: the port must be between 0 and 65535.")
    host = host.strip("[]") or "0.0.0.0"
    return host, port


@dataclass
class RelayStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0  # results that came back after the claim was lost


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Relay:
    """The relay worker, with the link endpoint when `listen` is given."""

    def __init__(
        self,
        depot: Depot,
        *,
        listen: str | None = None,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        lease_seconds: float | None = None,
        deadline: float = DEADLINE_SECONDS,
        concurrency: int = 32,
        batch: int = 8,
        poll_interval: float = 0.2,
        grace: float = 2.0,
        limits: Limits | None = None,
        archive_every: float | None = ARCHIVE_EVERY,
        archive_first_after: float = ARCHIVE_FIRST_AFTER,
        health_stale: float = HEALTH_STALE_SECONDS,
        register: bool = True,
    ) -> None:
        self.depot = depot
        #: seconds between two runs of the automatic archive (None: this relay never runs it)
        self.archive_every = archive_every
        self.archive_first_after = archive_first_after
        #: orders this relay archived automatically since it started
        self.archived = 0
        self._archiver: asyncio.Task[None] | None = None
        #: /healthz: how long the loop may go without a turn, or the database without answering
        self.health_stale = health_stale
        #: record this worker as here (services/presence.py, kind "relay") while it runs, so
        #: that `doctor` lists the relay workers alive; its id there is `presence_id`
        self.register = register
        self.presence_id: str | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self.listen = listen
        #: the link endpoint's deadlines and connection caps (link.guard)
        self.limits = limits or Limits()
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.deadline = deadline
        self.concurrency = max(1, concurrency)
        #: claims are taken in batches of up to concurrency x batch; the rest wait here for a slot
        self.capacity = self.concurrency * max(1, batch)
        # a claim lives as long as this worker renews it (the heartbeat), however long its wait
        # for a slot and its attempt take; a dead worker's claims run out within the lease
        self.lease_seconds = lease_seconds if lease_seconds is not None else LEASE_SECONDS
        self.poll_interval = poll_interval
        self.grace = grace
        self.stats = RelayStats()
        #: short text for the console's header
        self.state = "stopped"
        #: notices held or queued: not delivered yet
        self.waiting = 0
        #: notices failed: a dispatcher must retry or skip them
        self.failed = 0
        #: (host, port) the endpoint listens on, once started with `listen`
        self.address: tuple[str, int] | None = None
        self._inflight: dict[str, ClaimedNotice] = {}
        #: when each claim's lease runs out as far as this worker knows (time.monotonic())
        self._expiry: dict[str, float] = {}
        #: claims given up (lease ran out unrenewed): never delivered or recorded by this worker
        self._lost: set[str] = set()
        self._attempts: dict[str, asyncio.Task[Delivery]] = {}
        self._heart: asyncio.Task[None] | None = None
        self._senders: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[ClaimedNotice] = asyncio.Queue()
        self._sending = 0  # attempts under way
        self._results: list[tuple[ClaimedNotice, Delivery]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._final = False  # no delivery will report any more: the recorder may finish
        self._main: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        #: the endpoint's listening site, once started with `listen` (its open_connections, refused)
        self.site: GuardedSite | None = None
        self._transports: dict[Transport, Any] = {}
        self._down: dict[str, tuple[str, float]] = {}  # partner -> (why we think it is down, when)
        self._db_error: str | None = None
        self._turned_at = -1e9  # time.monotonic() of the loop's last turn
        self._db_ok_at = -1e9  # ... and of the last database call that went through
        self._oldest_due: datetime | None = None  # since when the relay is behind (last peek)
        self._schema: str | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._main is not None and not self._main.done()

    @property
    def url(self) -> str | None:
        """The endpoint's URL for partners on this machine, once listening."""
        if self.address is None:
            return None
        host, port = self.address
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{port}/link"

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._final = False
        self._wake = asyncio.Event()
        self._queue = asyncio.Queue()
        self._inflight = {}
        self._expiry = {}
        self._lost = set()
        self._attempts = {}
        self._sending = 0
        self.state = "starting"
        self._turned_at = self._db_ok_at = -1e9
        self._oldest_due = None
        try:
            self._schema = await asyncio.to_thread(schema_version, self.depot)
        except ERRORS as e:
            log.warning("relay: could not read the schema version: %s", e)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        self._session = aiohttp.ClientSession(connector=connector)
        self._transports = {
            Transport.HTTP: HttpTransport(self._session, deadline=self.deadline, clock=self.clock),
            Transport.EMAIL: EmailTransport(self._smtp_settings, deadline=self.deadline),
        }
        if self.listen:
            try:
                host, port = parse_listen(self.listen)
                app = make_app(self.depot, clock=self.clock, status=self._status, healthz=self.healthz)
                # behind the guard: read deadlines and connection caps (aiohttp has neither)
                self._runner, self.site = await start_site(app, host, port, limits=self.limits,
                                                           shutdown_timeout=self.grace)
                addr = self._runner.addresses[0]
                self.address = (addr[0], addr[1])
            except RelayError:
                await self._close_network()
                self.state = "stopped"
                raise
            except OSError as e:
                await self._close_network()
                self.state = "stopped"
                why = (
                    "the address is already in use (is another relay, or a console with --listen, running?)"
                    if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
                )
                raise RelayError(f"The link endpoint cannot listen on {self.listen}: {why}.") from None
        self._main = asyncio.create_task(self._run(), name="dispatchdesk-relay")
        self._senders = [asyncio.create_task(self._sender(), name=f"dispatchdesk-relay-send-{i}")
                         for i in range(self.concurrency)]
        self._heart = asyncio.create_task(self._heartbeat(), name="dispatchdesk-relay-heartbeat")
        if self.archive_every is not None:
            self._archiver = asyncio.create_task(self._archive_loop(), name="dispatchdesk-relay-archive")
        if self.register:
            self._presence_task = asyncio.create_task(self._here(), name="dispatchdesk-relay-presence")
        log.info("relay %s started%s", self.worker_id, f"; link endpoint on {self.url}" if self.url else "")

    async def stop(self) -> None:
        """Stop claiming, give deliveries under way a moment, record what came back, close."""
        if self._main is None:
            return
        self._stopping = True
        self._wake.set()
        while not self._queue.empty():  # not started: their claims are given back below
            self._queue.get_nowait()
        deadline = time.monotonic() + self.grace
        while self._sending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for t in self._senders:
            t.cancel()  # an attempt cut short is delivered again later (at least once)
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        if self._heart is not None:
            self._heart.cancel()
            await asyncio.gather(self._heart, return_exceptions=True)
            self._heart = None
        if self._archiver is not None:
            # a batch under way finishes in its thread (one transaction, whole or not at all)
            self._archiver.cancel()
            await asyncio.gather(self._archiver, return_exceptions=True)
            self._archiver = None
        if self._presence_task is not None:
            self._presence_task.cancel()
            await asyncio.gather(self._presence_task, return_exceptions=True)
            self._presence_task = None
            if self.presence_id is not None:
                await asyncio.to_thread(presence.leave, self.depot, self.presence_id)
                self.presence_id = None
        self._final = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._main), timeout=max(5.0, self.grace))
        except (TimeoutError, asyncio.CancelledError):
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        if self._inflight:
            # give back the claims of notices not sent (or not known to be): another relay, or
            # this one restarted, takes them at once instead of when the lease runs out
            try:
                await asyncio.to_thread(release_claims, self.depot, self.worker_id, list(self._inflight))
            except ERRORS as e:
                log.warning("relay: could not give back %d claims: %s", len(self._inflight), e)
            self._inflight.clear()
        await self._close_network()
        self._main = None
        self.state = "stopped"
        log.info("relay %s stopped", self.worker_id)

    async def _close_network(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def poke(self) -> None:
        """Look for due notices now instead of at the next poll (after an action, say)."""
        self._wake.set()

    async def _smtp_settings(self) -> SmtpSettings:
        return await asyncio.to_thread(SmtpSettings.from_settings, self.depot.setting)

    def _status(self) -> dict[str, Any]:
        return {"relay": self.state, "waiting": self.waiting, "failed": self.failed}

    def healthz(self) -> tuple[int, dict[str, Any]]:
        """What /healthz answers: 200 while the loop turns and the database answers, else 503
        with the reason. Reads only what the loop last saw: no database call, no order data."""
        now = time.monotonic()
        lag = None
        if self._oldest_due is not None:
            lag = round(max(0.0, (self.depot.now() - self._oldest_due).total_seconds()), 1)
        body: dict[str, Any] = {"ok": True, "lag": lag if lag is not None else 0.0, "schema": self._schema}
        reason = None
        if self._main is None or self._main.done():
            crashed = self._main is not None and not self._main.cancelled() and self._main.exception()
            reason = ("the relay's loop stopped: " + clean(f"{type(crashed).__name__}: {crashed}", single_line=True, limit=200)
                      if crashed else "the relay is not running")
        elif now - self._turned_at > self.health_stale:
            reason = ("the relay's loop has not started" if self._turned_at < 0
                      else f"the relay's loop has not turned for {now - self._turned_at:.0f} s")
        elif now - self._db_ok_at > self.health_stale:
            since = "yet" if self._db_ok_at < 0 else f"for {now - self._db_ok_at:.0f} s"
            reason = f"the database has not answered {since}" + (f": {self._db_error}" if self._db_error else "")
        if reason is not None:
            body.update(ok=False, reason=reason)
            return 503, body
        return 200, body

    # ------------------------------------------------------------------ the work
    async def _run(self) -> None:
        """The cycle: record what came back and claim what is due, in one transaction."""
        more = False  # the last claim was full: more may be due at once
        last_peek = -1e9
        while True:
            self._turned_at = time.monotonic()
            results, self._results = self._results, []
            busy = len(self._inflight) - len(results)  # recorded results free their places
            free = 0 if self._stopping else self.capacity - busy
            # claim in batches while busy; at once when idle (a new notice goes out quickly)
            want = free > 0 and (busy == 0 or free >= self.concurrency)
            try:
                if (want and not more and not results) or time.monotonic() - last_peek > 1.0:
                    p = await asyncio.to_thread(peek, self.depot)  # a cheap read, no write lock
                    self.waiting, self.failed = p.waiting, p.failed
                    self._oldest_due = p.oldest_due
                    self._db_ok_at = time.monotonic()
                    if p.hellos and not self._stopping:
                        # a link started or its agreement changed: our hello goes out now
                        if await asyncio.to_thread(queue_hellos, self.depot):
                            p = await asyncio.to_thread(peek, self.depot)
                    last_peek = time.monotonic()
                    want = want and (p.due or more or bool(results))
                if results or want:
                    t0 = time.monotonic()
                    applied, claimed = await asyncio.to_thread(
                        record_and_claim, self.depot, self.worker_id, [(c.id, d) for c, d in results],
                        limit=free if want else 0, lease_seconds=self.lease_seconds, policy=self.policy,
                    )
                    for (c, d), ok in zip(results, applied, strict=True):
                        self._forget(c.id)
                        self._note(c, d, ok)
                    results = []
                    self.stats.claimed += len(claimed)
                    expires = t0 + self.lease_seconds  # the lease was dated inside the call
                    for c in claimed:
                        self._inflight[c.id] = c
                        self._expiry[c.id] = expires
                        self._queue.put_nowait(c)
                    more = want and len(claimed) == free
                    self._db_ok_at = time.monotonic()
                self._db_error = None
            except asyncio.CancelledError:
                self._results = results + self._results
                raise
            except Exception as e:  # noqa: BLE001 - the relay must keep going
                # the database is busy or gone: keep the results and try again shortly; if the
                # claims lapse meanwhile, the notices are simply delivered again
                self._results = results + self._results
                self._db_error = clean(str(e) if isinstance(e, ERRORS) else f"{type(e).__name__}: {e}",
                                       single_line=True, limit=200)
                if isinstance(e, ERRORS):
                    log.warning("relay: %s", self._db_error)
                else:
                    log.exception("relay: unexpected error")
                more = False
                if self._final:
                    return
                self._update_state()
                await asyncio.sleep(min(1.0, self.poll_interval * 5))
                continue
            self._update_state()
            if self._final and not self._results:
                return
            if more or self._results:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass

    def _forget(self, notice_id: str) -> None:
        self._inflight.pop(notice_id, None)
        self._expiry.pop(notice_id, None)
        self._lost.discard(notice_id)

    async def _sender(self) -> None:
        """One of `concurrency` senders: takes claimed notices in turn and delivers them."""
        while True:
            c = await self._queue.get()
            if c.id in self._lost or c.id not in self._inflight:
                self._forget(c.id)  # its lease ran out while it waited: not ours any more
                continue
            self._sending += 1
            attempt = asyncio.create_task(self._deliver(c))
            self._attempts[c.id] = attempt
            try:
                await asyncio.wait({attempt})
            finally:
                self._sending -= 1
                self._attempts.pop(c.id, None)
                if not attempt.done():
                    attempt.cancel()
            if attempt.cancelled() or c.id in self._lost:
                self._forget(c.id)  # given up by the heartbeat: another worker may have it now
                self._wake.set()
                continue
            self._results.append((c, attempt.result()))
            self._wake.set()

    async def _heartbeat(self) -> None:
        """Renew the leases of every claim this worker holds, every third of the lease. A claim
        whose lease runs out unrenewed (the database was unreachable that long) is given up at
        once: its attempt is cancelled and nothing is recorded, so that no two workers ever
        deliver one notice on a live claim."""
        every = max(0.05, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(every)
            ids = list(self._inflight)
            if ids:
                t0 = time.monotonic()
                try:
                    held = await asyncio.to_thread(
                        renew_claims, self.depot, self.worker_id, ids, lease_seconds=self.lease_seconds
                    )
                except ERRORS as e:
                    log.warning("relay: could not renew %d claims: %s", len(ids), e)
                    held = None
                except Exception:  # noqa: BLE001 - the heartbeat must keep going
                    log.exception("relay: renewing claims failed")
                    held = None
                if held is not None:
                    for nid in ids:
                        if nid in held and nid in self._inflight:
                            self._expiry[nid] = t0 + self.lease_seconds
            # anything whose lease has run out (or is about to) as far as we know: give it up
            margin = min(1.0, self.lease_seconds / 5)
            now = time.monotonic()
            for nid, until in list(self._expiry.items()):
                if until - margin <= now and nid in self._inflight:
                    if any(c.id == nid for c, _ in self._results):
                        continue  # its result is waiting to be recorded: the record decides
                    self._lost.add(nid)
                    self._inflight.pop(nid, None)
                    self._expiry.pop(nid, None)
                    task = self._attempts.get(nid)
                    if task is not None:
                        task.cancel()
                    log.warning("relay: gave up the claim on %s (its lease ran out unrenewed)", nid)

    async def _archive_loop(self) -> None:
        """Now and then, archive the orders done with (a batch per transaction, in a thread).
        Several relays on one database may run it at once: each order is archived once."""
        every = self.archive_every if self.archive_every is not None else ARCHIVE_EVERY
        await asyncio.sleep(self.archive_first_after)
        while True:
            try:
                n = await asyncio.to_thread(run_auto_archive, self.depot)
                if n:
                    self.archived += n
                    log.info("relay: %d orders archived automatically", n)
            except ERRORS as e:
                log.warning("relay: the automatic archive could not run: %s", e)
            except Exception:  # noqa: BLE001 - the relay must keep going
                log.exception("relay: the automatic archive failed")
            await asyncio.sleep(every)

    def _presence_detail(self) -> str:
        """What `doctor` shows of this worker: its id (its claims' claimed_by) and endpoint."""
        return f"worker {self.worker_id}" + (f"; endpoint {self.url}" if self.url else "")

    async def _here(self) -> None:
        """Join the depot's consoles as a relay worker and beat with its state (presence's
        writes never wait long and never fail: a beat on a busy database is skipped)."""
        self.presence_id = str(uuid.uuid4())  # known before the join: stop() leaves even if cut short
        await asyncio.to_thread(
            presence.join, self.depot, kind=presence.RELAY, screen=self.state, detail=self._presence_detail(),
            console_id=self.presence_id,
        )
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            await asyncio.to_thread(
                presence.heartbeat, self.depot, self.presence_id, kind=presence.RELAY, screen=self.state,
                detail=self._presence_detail(),
            )

    async def _deliver(self, c: ClaimedNotice) -> Delivery:
        transport = self._transports.get(c.transport)
        if transport is None:
            return Delivery.failed(f"The relay cannot deliver a {c.transport.value} notice.", contacted=False)
        try:
            return await transport.deliver(c)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a transport bug must not lose the notice
            log.exception("relay: delivering %s failed", c.id)
            return Delivery.retry(f"Internal error while sending: {type(e).__name__}: {e}")

    def _note(self, c: ClaimedNotice, d: Delivery, applied: bool) -> None:
        if not applied:
            self.stats.dropped += 1
            log.info("relay: result for %s dropped (claim no longer held)", c.id)
            return
        if d.outcome is Outcome.SENT:
            self.stats.sent += 1
            self._down.pop(c.partner, None)
        elif d.outcome is Outcome.RETRY and self.policy.delay(c.attempts + 1) is None:
            # the retry schedule is used up: the recorder failed the notice (outbox._apply)
            self.stats.failed += 1
            if not d.contacted or (d.status or 0) >= 500:
                self._down[c.partner] = (d.error, time.monotonic())
            log.warning("relay: %s to %s gave up after %d attempts: %s; a dispatcher can retry or skip it",
                        c.label, c.partner, c.attempts + 1, d.error)
        elif d.outcome is Outcome.RETRY:
            self.stats.retried += 1
            if not d.contacted or (d.status or 0) >= 500:
                self._down[c.partner] = (d.error, time.monotonic())
            log.info("relay: %s to %s will be retried: %s", c.label, c.partner, d.error)
        else:
            self.stats.failed += 1
            self._down.pop(c.partner, None)
            log.warning("relay: %s to %s failed: %s", c.label, c.partner, d.error)

    def _fresh_down(self) -> bool:
        """Forget a partner seen down more than DOWN_FOR seconds ago with nothing tried since."""
        now = time.monotonic()
        for name in [n for n, (_, at) in self._down.items() if now - at > DOWN_FOR]:
            del self._down[name]
        return bool(self._down)

    def _update_state(self) -> None:
        if self._stopping:
            self.state = "stopping"
        elif self._db_error:
            self.state = "database problem"
        elif self._fresh_down():
            names = sorted(self._down)
            self.state = f"partner {names[0]} down" if len(names) == 1 else f"{len(names)} partners down"
        elif self._inflight:
            self.state = f"sending {max(1, self._sending)}"
        else:
            self.state = "idle"

    @property
    def problem(self) -> str | None:
        """The last database problem, or why a partner seems down, as a sentence."""
        if self._db_error:
            return self._db_error
        if self._fresh_down():
            name = sorted(self._down)[0]
            return f"{name}: {self._down[name][0]}"
        return None


def run_relay(depot: Depot, listen: str | None = None, **options: Any) -> None:
    """`dispatchdesk relay`: run until SIGINT or SIGTERM, then stop cleanly. Blocking."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    async def main() -> None:
        relay = Relay(depot, listen=listen, **options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
                pass
        await relay.start()
        last = None
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                now = (relay.state, relay.waiting, relay.failed)
                if now != last:
                    log.info("relay: %s; %d waiting, %d failed", *now)
                    last = now
        finally:
            await relay.stop()

    asyncio.run(main())
