"""On PostgreSQL, several relays claim at once (SELECT ... FOR UPDATE SKIP LOCKED): no notice is
ever claimed twice, and notices of one order and partner still go out one after the other.

Uses a fresh database on 127.0.0.1:5432 (the `pg_fresh_url` fixture of tests/conftest.py),
dropped at the end of the session.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from dispatchdesk.services import (
    Depot,
    PartnerInput,
    add_partner,
    cancel_shipment,
    dispatch,
    set_setting,
)
from dispatchdesk.services.outbox import Delivery, claim_due, record_result
from dispatchdesk.store import Database
from dispatchdesk.store.models import Notice

pytestmark = pytest.mark.postgres

ORDERS = 60
WORKERS = 4


def test_concurrent_workers_never_claim_a_notice_twice_and_keep_the_order(pg_fresh_url):
    setup = Depot(Database.open(pg_fresh_url), actor="setup")
    set_setting(setup, "undo_seconds", "0")
    add_partner(setup, PartnerInput(name="Carrier", role="subcontractor", url="http://127.0.0.1:9/link",
                                    secret="postgres-test-secret-0001"))
    from linkkit import make_order

    numbers = [make_order(setup) for _ in range(ORDERS)]
    for n in numbers:
        dispatch(setup, n, "Carrier")
        cancel_shipment(setup, n)  # a revocation queued right behind each order.new
    with setup.uow(write=False) as uow:
        seq_of = {n.id: (n.order_id, n.seq) for n in uow.session.scalars(select(Notice)).unique()}
    assert len(seq_of) == 2 * ORDERS

    events: list[tuple[float, str, str, str]] = []  # (time, "claim"/"done", worker, notice id)
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def work(name: str) -> None:
        depot = Depot(Database.open(pg_fresh_url, migrate=False), actor=name)
        try:
            start.wait()
            idle = 0
            while idle < 5:
                claimed = claim_due(depot, name, limit=5, lease_seconds=60)
                now = time.monotonic()
                with lock:
                    events.extend((now, "claim", name, c.id) for c in claimed)
                if not claimed:
                    idle += 1
                    time.sleep(0.02)
                    continue
                idle = 0
                for c in claimed:
                    with lock:
                        events.append((time.monotonic(), "done", name, c.id))
                    assert record_result(depot, c.id, name, Delivery.sent())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            depot.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors

    claims = Counter(nid for _, kind, _, nid in events if kind == "claim")
    assert set(claims) == set(seq_of), "every notice claimed"
    assert max(claims.values()) == 1, "no notice claimed twice"
    assert len({w for _, kind, w, _ in events if kind == "claim"}) > 1, "the work was shared"
    # per order: the revocation (seq 2) was claimed only after the order.new (seq 1) was done
    claimed_at = {nid: t for t, kind, _, nid in events if kind == "claim"}
    done_at = {nid: t for t, kind, _, nid in events if kind == "done"}
    by_order: dict[int, dict[int, str]] = {}
    for nid, (oid, seq) in seq_of.items():
        by_order.setdefault(oid, {})[seq] = nid
    for seqs in by_order.values():
        first, second = seqs[min(seqs)], seqs[max(seqs)]
        assert claimed_at[second] >= done_at[first]
    with setup.uow(write=False) as uow:
        assert {n.state for n in uow.session.scalars(select(Notice)).unique()} == {"sent"}
    setup.close()
