"""Helpers for the link tests: real depots (each its own SQLite file), real relays listening on
loopback, a fast retry schedule, and an awaitable "wait until the database says so".
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from dispatchdesk.link.relay import Relay
from dispatchdesk.services import (
    Depot,
    LineInput,
    OrderInput,
    PartnerInput,
    add_partner,
    create_order,
)
from dispatchdesk.services.outbox import RetryPolicy  # noqa: F401 - re-exported for tests
from dispatchdesk.store import Database
from dispatchdesk.store.models import Notice, Order, ReceivedMessage
from helpers import wait_for

T = TypeVar("T")

#: Retries come quickly in tests; the real schedule is minutes and hours.
FAST = RetryPolicy(delays=(0.2, 0.3, 0.4), jitter=0.0)
SECRET = "a-shared-secret-for-the-link-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_depot(path: Path, actor: str = "tester") -> Depot:
    return Depot(Database.open(path), actor=actor)


#: The suite's wait_for (tests/helpers.py) for the link: `check` runs in a thread (it reads
#: the database while the loop serves the relays) until it returns something truthy.
eventually = partial(wait_for, None, in_thread=True)


def notice_states(d: Depot, number: str | None = None) -> list[tuple[str, str, str]]:
    """(kind, partner, state) of every notice (of one order), in seq order."""
    with d.uow(write=False) as uow:
        q = select(Notice).order_by(Notice.created_at, Notice.seq)
        if number is not None:
            q = q.join(Order, Notice.order_id == Order.id).where(Order.number == number)
        return [(n.kind, n.partner.name, n.state) for n in uow.session.scalars(q).unique()]


@dataclass(frozen=True)
class OrderRow:
    number: str
    status: str
    partner_ref: str | None
    source: str | None
    assignee: str | None
    cancellation_requested: bool
    cancellation_refused: str | None
    partner_status: str | None
    lines: dict[str, tuple[int, int]]  # article -> (quantity, cancelled)


def order_row(d: Depot, *, number: str | None = None, partner_ref: str | None = None) -> OrderRow | None:
    """One order as plain values (read in its own session), or None."""
    with d.uow(write=False) as uow:
        q = select(Order)
        if number is not None:
            q = q.where(Order.number == number)
        if partner_ref is not None:
            q = q.where(Order.partner_ref == partner_ref)
        o = uow.session.scalars(q).unique().first()
        if o is None:
            return None
        return OrderRow(o.number, o.status, o.partner_ref, o.source.name if o.source else None,
                        o.assignee.name if o.assignee else None, o.cancellation_requested,
                        o.cancellation_refused, o.partner_status,
                        {ln.article: (ln.quantity, ln.cancelled) for ln in o.lines})


def count(d: Depot, model: Any) -> int:
    with d.uow(write=False) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def make_order(d: Depot, *, source: str | None = None, ref: str | None = None,
               lines: dict[str, int] | None = None) -> str:
    lines = {"BOX-S": 2, "PALLET": 1} if lines is None else lines
    return create_order(
        d,
        OrderInput(
            pickup_address="1 Depot Road, Leeds",
            delivery_address="22 High Street, York",
            lines=[LineInput(a, q, f"{a} description") for a, q in lines.items()],
            parcels=3,
            weight_kg=12.5,
            source=source,
            partner_ref=ref,
        ),
    )


@dataclass
class Side:
    """One depot with its relay."""

    name: str
    depot: Depot
    relay: Relay

    @property
    def url(self) -> str:
        assert self.relay.url is not None
        return self.relay.url


def link(a: Side, b: Side, *, a_sees_b: dict[str, Any], b_sees_a: dict[str, Any], secret: str = SECRET) -> None:
    """Add each depot as the other's partner, with the same secret on both sides."""
    add_partner(a.depot, PartnerInput(name=b.name, url=b.url, secret=secret, **a_sees_b))
    add_partner(b.depot, PartnerInput(name=a.name, url=a.url, secret=secret, **b_sees_a))


def received_count(d: Depot) -> int:
    return count(d, ReceivedMessage)


# --------------------------------------------------------------------------- a scripted partner


@dataclass
class Arrival:
    at: float  # time.monotonic()
    id: str
    kind: str
    body: dict[str, Any]
    headers: dict[str, str]


class ScriptedPartner:
    """A partner's HTTP server on loopback that checks our signature and answers as scripted.

    `answer(arrival, n)` (sync or async) returns (status, headers, text) for the n-th arrival
    (1-based); the default answers 200. Every arrival is kept in `arrivals`.
    """

    def __init__(self, secret: str = SECRET, answer: Callable[..., Any] | None = None) -> None:
        self.secret = secret
        self.answer = answer or (lambda a, n: (200, {}, '{"ok": true}'))
        self.arrivals: list[Arrival] = []
        self.bad: list[str] = []
        self._runner: Any = None
        self.url = ""

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        from dispatchdesk.link.signing import SignatureError, verify

        text = (await request.read()).decode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify(self.secret, text, headers)
        except SignatureError as e:
            self.bad.append(str(e))
            return web.json_response({"error": str(e)}, status=401)
        body = json.loads(text)
        a = Arrival(time.monotonic(), headers["webhook-id"], body["kind"], body, headers)
        self.arrivals.append(a)
        result = self.answer(a, len(self.arrivals))
        if asyncio.iscoroutine(result):
            result = await result
        status, extra, out = result
        return web.Response(status=status, headers=extra, text=out, content_type="application/json")

    async def start(self) -> ScriptedPartner:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/link", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/link"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def kinds(self) -> list[str]:
        return [a.kind for a in self.arrivals]
