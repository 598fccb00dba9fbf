"""Kill a real `dispatchdesk relay` process with SIGKILL mid-drain, again and again, and count
what that costs (issue 9 item 8). Used by tests/link/test_relay_crash.py (a few kills) and
tests/bench/bench_relay_crash.py (20 kills).

Depot A (a SQLite file) has ORDERS orders, each sent to depot B and then cancelled: two notices
per order that must reach B in that order. Depot B runs in this process with its relay and link
endpoint on loopback, taking DELAY seconds per message (a partner's own work), and notes when
each message id arrives. A's relay runs as `dispatchdesk relay --db A`: a process is started,
left to deliver some notices, then killed with SIGKILL while it holds claims; the next one is
started at once. Each cycle waits until the killed worker's claims were taken over and the new
worker delivered again before it kills that one. At the end a last worker drains the rest.

Counted:
- lost: notices of A that never reached B;
- applied twice: B's orders, "received" audit entries or cancellations more than once per order
  of A, or lines cancelled more than once;
- reordered: per order (and partner), the cancellation arriving at B before the order;
- per kill: seconds from the kill to the next delivery recorded in A (sent_at, which only a live
  worker writes), and to the moment no notice is held any more by the killed worker's claims.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from linkkit import FAST, SECRET, eventually, open_depot
from sqlalchemy import func, insert, select

import dispatchdesk.link.endpoint as endpoint_module
from dispatchdesk.domain import NoticeKind, NoticePlan, Transport
from dispatchdesk.link.relay import Relay
from dispatchdesk.services import (
    CancellationRequest,
    LineInput,
    OrderInput,
    PartnerInput,
    ReasonCode,
    add_partner,
    cancel,
    create_order,
    dispatch,
    set_setting,
)
from dispatchdesk.services.core import notice_row
from dispatchdesk.store.models import (
    AuditEntry,
    Cancellation,
    Notice,
    Order,
    OrderLine,
    Partner,
    ReceivedMessage,
)

CLI = "import sys; from dispatchdesk.cli import main; raise SystemExit(main())"


@dataclass
class CrashFigures:
    kills: int = 0
    notices: int = 0
    lost: int = 0
    applied_twice: int = 0
    reordered: int = 0
    orphans: list[int] = field(default_factory=list)  # claims the killed worker held
    gap_next: list[float] = field(default_factory=list)  # kill -> next delivery recorded
    gap_taken_over: list[float] = field(default_factory=list)  # kill -> no claim of it left
    seconds: float = 0.0

    def lines(self) -> list[str]:
        def worst(xs: list[float]) -> str:
            return f"{max(xs):.2f} s (mean {sum(xs) / len(xs):.2f} s)" if xs else "-"

        return [
            f"kills: {self.kills}, notices: {self.notices}, in {self.seconds:.1f} s",
            f"lost: {self.lost}, applied twice: {self.applied_twice}, reordered: {self.reordered}",
            f"claims held by the killed worker: {self.orphans}",
            f"kill -> next delivery: longest {worst(self.gap_next)}",
            f"kill -> its claims taken over: longest {worst(self.gap_taken_over)}",
        ]


def _relay_process(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CLI, "relay", "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _claims_of(depot, pid: int) -> int:  # type: ignore[no-untyped-def]
    with depot.uow(write=False) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(Notice).where(
                Notice.claimed_by.like(f"%:{pid}:%"), Notice.state == "queued")
        ) or 0


def _sent_after(depot, t: float) -> float | None:  # type: ignore[no-untyped-def]
    when = datetime.fromtimestamp(t, UTC)
    with depot.uow(write=False) as uow:
        first = uow.session.scalar(select(func.min(Notice.sent_at)).where(Notice.sent_at > when))
    return first.timestamp() if first is not None else None


def _sent_count(depot) -> int:  # type: ignore[no-untyped-def]
    with depot.uow(write=False) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(Notice).where(Notice.state.in_(("sent", "acknowledged")))
        ) or 0


def _build(a, orders: int) -> list[str]:  # type: ignore[no-untyped-def]
    """A's orders, each sent to Bravo and then cancelled: the first through the services, the
    rest written in bulk with the same rows (thousands of actions one by one take minutes)."""
    first = create_order(a, OrderInput(pickup_address="0 Mill Lane, Leeds", delivery_address="2 Quay, Hull",
                                       lines=[LineInput("BOX", 2, "box")]))
    dispatch(a, first, "Bravo")
    cancel(a, first, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
    numbers = [first]
    with a.uow() as uow:
        s = uow.session
        bravo = s.scalars(select(Partner).where(Partner.name == "Bravo")).one()
        now = a.now()
        made = []
        for i in range(1, orders):
            o = Order(number=f"BULK-{i:06d}", status="dispatched", assignee_id=bravo.id, pickup_address=f"{i} Mill Lane",
                      delivery_address="2 Quay, Hull", created_at=now, dispatched_at=now, status_changed_at=now,
                      lines=[OrderLine(lineno=1, article="BOX", description="box", quantity=2)])
            s.add(o)
            made.append(o)
        s.flush()
        rows = []
        for o in made:
            rows.append(notice_row(o, bravo, NoticePlan("Bravo", NoticeKind.ORDER, Transport.HTTP, False),
                                   now=now, undo_seconds=0, seq=1))
            rows.append(notice_row(o, bravo, NoticePlan("Bravo", NoticeKind.CANCELLATION, Transport.HTTP, False),
                                   now=now, undo_seconds=0, seq=2,
                                   extra={"reason": "CLIENT_CANCELLED", "comment": "", "lines": {"BOX": 2},
                                          "partial": False, "cancellation": f"CN-B{o.id}"}))
            numbers.append(o.number)
        for i in range(0, len(rows), 500):
            s.execute(insert(Notice), rows[i:i + 500])
        uow.commit()
    return numbers


async def crash_run(tmp: Path, *, kills: int, orders: int, per_cycle: int = 20, delay: float = 0.01,
                    timeout: float = 30.0, progress: bool = False) -> CrashFigures:
    figures = CrashFigures(kills=kills, notices=2 * orders)
    started = time.monotonic()
    arrivals: list[tuple[str, float]] = []
    lock = threading.Lock()
    real_received, real_receive = endpoint_module.received, endpoint_module.receive

    def noting_received(depot, mid, *args):  # type: ignore[no-untyped-def]
        with lock:
            arrivals.append((mid, time.time()))
        return real_received(depot, mid, *args)

    def slow_receive(depot, partner, msg, **kw):  # type: ignore[no-untyped-def]
        time.sleep(delay)
        return real_receive(depot, partner, msg, **kw)

    endpoint_module.received, endpoint_module.receive = noting_received, slow_receive
    b = open_depot(tmp / "b.sqlite", actor="bravo")
    set_setting(b, "undo_seconds", "0")
    b_relay = Relay(b, listen="127.0.0.1:0", worker_id="relay-B", policy=FAST, poll_interval=0.05)
    await b_relay.start()
    a_path = tmp / "a.sqlite"
    a = open_depot(a_path, actor="alpha")
    proc: subprocess.Popen[bytes] | None = None
    try:
        # B knows A by its secret only: B's answers become follow-ups, A is not listening
        add_partner(b, PartnerInput(name="Alpha", role="client", secret=SECRET))
        set_setting(a, "undo_seconds", "0")
        add_partner(a, PartnerInput(name="Bravo", role="subcontractor", url=b_relay.url, secret=SECRET))
        numbers = _build(a, orders)

        proc = _relay_process(a_path)
        for _ in range(kills):
            base = await asyncio.to_thread(_sent_count, a)
            await eventually(lambda base=base: _sent_count(a) >= base + per_cycle, timeout=timeout,
                             what="the relay process to deliver")
            pid = proc.pid
            os.kill(pid, signal.SIGKILL)
            t_kill = time.time()
            await asyncio.to_thread(proc.wait, 10)
            held = await asyncio.to_thread(_claims_of, a, pid)
            figures.orphans.append(held)
            proc = _relay_process(a_path)  # the next worker, at once
            await eventually(lambda pid=pid: _claims_of(a, pid) == 0, timeout=timeout, interval=0.02,
                             what="the killed worker's claims to be taken over")
            figures.gap_taken_over.append(time.time() - t_kill)
            nxt = await eventually(lambda t=t_kill: _sent_after(a, t), timeout=timeout, interval=0.02,
                                   what="the next delivery after the kill")
            figures.gap_next.append(nxt - t_kill)
            if progress:
                print(f"kill {len(figures.gap_next)}: {held} claims left behind; next delivery after "
                      f"{nxt - t_kill:.2f} s, taken over after {figures.gap_taken_over[-1]:.2f} s", flush=True)
            # this worker is the next one killed, once it has delivered some more

        # the last one drains the rest
        await eventually(lambda: _sent_count(a) >= 2 * orders, timeout=timeout + 2 * orders * delay,
                         what="every notice to be delivered")
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
        proc = None

        # ------------------------------------------------------------ count
        with a.uow(write=False) as uow:
            notices = {n.id: (n.order.number, n.seq) for n in uow.session.scalars(select(Notice)).unique()
                       if n.kind in ("order.new", "order.cancellation")}
        with b.uow(write=False) as uow:
            s = uow.session
            got = set(s.scalars(select(ReceivedMessage.id)))
            per_ref = Counter(s.scalars(select(Order.partner_ref)))
            received = Counter(s.scalars(select(Order.partner_ref).join(AuditEntry, AuditEntry.order_id == Order.id)
                                         .where(AuditEntry.action == "received")))
            cancels = Counter(s.scalars(select(Order.partner_ref).join(Cancellation, Cancellation.order_id == Order.id)))
            over = s.scalar(select(func.count()).select_from(OrderLine).where(OrderLine.cancelled > OrderLine.quantity))
        figures.lost = sum(1 for nid in notices if nid not in got)
        figures.applied_twice = (sum(c - 1 for c in per_ref.values() if c > 1)
                                 + sum(c - 1 for c in received.values() if c > 1)
                                 + sum(c - 1 for c in cancels.values() if c > 1) + (over or 0))
        first: dict[str, float] = {}
        for mid, t in arrivals:
            first.setdefault(mid, t)
        by_order: dict[str, list[tuple[int, float]]] = {}
        for nid, (number, seq) in notices.items():
            if nid in first:
                by_order.setdefault(number, []).append((seq, first[nid]))
        figures.reordered = sum(
            1 for seqs in by_order.values()
            for (s1, t1), (s2, t2) in zip(sorted(seqs), sorted(seqs)[1:], strict=False) if t2 < t1
        )
        assert set(per_ref) == set(numbers)
        figures.seconds = time.monotonic() - started
        return figures
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        endpoint_module.received, endpoint_module.receive = real_received, real_receive
        await b_relay.stop()
        a.close()
        b.close()
