"""Issue 13 item 2: working lists stay small. The depot archives Delivered, Rejected and
Cancelled orders whose status is older than `archive_after_days` (default 30, 0 = never),
audited with the depot as who did it; Unarchive brings one back; archived orders stay in
searches, exports and reports."""

from __future__ import annotations

import threading

import pytest

from dispatchdesk.domain import CancellationRequest, ReasonCode, Status
from dispatchdesk.services import (
    AutoArchive,
    Depot,
    InvalidInput,
    Refused,
    SetStatus,
    Unarchive,
    cancel,
    queries,
    run_auto_archive,
    set_setting,
    trash,
)
from dispatchdesk.services.archiving import archive_ids, due_for_archive
from dispatchdesk.services.export import export_json
from dispatchdesk.store.models import AuditEntry

DAY = 24 * 3600


def _finish(depot: Depot, number: str, status: Status) -> None:
    """Bring a fresh order to one of the statuses it is done with."""
    if status is Status.DELIVERED:
        for st in (Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED):
            SetStatus(number, status=st).execute(depot)
    elif status is Status.REJECTED:
        trash(depot, number)
    else:
        cancel(depot, number, CancellationRequest(ReasonCode.DAMAGED))


def _archived(rows, depot, number) -> bool:
    return rows(depot, number).order.archived


@pytest.mark.parametrize("status", [Status.DELIVERED, Status.REJECTED, Status.CANCELLED])
def test_an_order_done_with_is_archived_once_its_status_is_older_than_the_setting(
    depot, partners, new_order, rows, clock, status
) -> None:
    n = new_order(source="Plain Client")
    _finish(depot, n, status)
    before = rows(depot, n).order.version

    clock.advance(30 * DAY - 1)  # one second short of 30 days: it stays
    assert AutoArchive().execute(depot).count == 0
    assert not _archived(rows, depot, n)

    clock.advance(2)
    result = AutoArchive().execute(depot)
    assert result.archived == (n,)
    x = rows(depot, n)
    assert x.order.archived is True and x.order.status == status.value
    assert x.order.version == before + 1  # a dispatcher still looking at it gets a Conflict
    assert x.last.actor == "depot" and x.last.action == "archive"
    assert x.last.detail == f"Order {n} archived automatically after 30 days in {status.label}."
    assert x.last.from_status == x.last.to_status == status.value
    # again: nothing more to do, no second audit entry
    assert AutoArchive().execute(depot).count == 0
    assert len(rows(depot, n).audit) == len(x.audit)


def test_orders_still_under_way_are_never_archived(depot, partners, new_order, rows, clock) -> None:
    created = new_order(source="Plain Client")
    sent = new_order(source="Plain Client")
    SetStatus(sent, status=Status.ACCEPTED).execute(depot)
    clock.advance(400 * DAY)
    assert run_auto_archive(depot) == 0
    assert not _archived(rows, depot, created) and not _archived(rows, depot, sent)


def test_the_setting_sets_the_age_and_0_switches_it_off(depot, partners, new_order, rows, clock) -> None:
    n = new_order(source="Plain Client")
    trash(depot, n)
    set_setting(depot, "archive_after_days", "0")
    clock.advance(1000 * DAY)
    assert run_auto_archive(depot) == 0
    assert not _archived(rows, depot, n)
    pv = AutoArchive().preview(depot)
    assert pv.refusals == ("The depot archives nothing by itself: archive_after_days is 0.",)

    set_setting(depot, "archive_after_days", "7")
    pv = AutoArchive().preview(depot)
    assert pv.allowed and pv.title == "Archive 1 order done with?"
    assert pv.lines[0] == "1 order Delivered, Rejected or Cancelled more than 7 days ago leave the working lists."
    assert run_auto_archive(depot) == 1
    assert rows(depot, n).last.detail == f"Order {n} archived automatically after 7 days in Rejected."
    for bad in ("-1", "soon", "40000"):
        with pytest.raises(InvalidInput):
            set_setting(depot, "archive_after_days", bad)


def test_two_workers_archive_each_order_once(depot, partners, new_order, rows, clock, db_path) -> None:
    numbers = [new_order(source="Plain Client") for _ in range(6)]
    for n in numbers:
        trash(depot, n)
    clock.advance(31 * DAY)
    # both find the same orders before either writes: the second's UPDATE finds them archived
    first, second = due_for_archive(depot), due_for_archive(depot)
    assert len(first) == len(second) == 6
    assert archive_ids(depot, first).count == 6
    assert archive_ids(depot, second).count == 0
    with depot.uow(write=False) as uow:
        autos = uow.session.query(AuditEntry).filter(AuditEntry.actor == "depot").count()
    assert autos == 6


def test_two_workers_at_once_on_one_database(db_path, clock, partners, new_order) -> None:
    """Two depot handles (two workers) running the whole loop in two threads, small batches."""
    from dispatchdesk.store import Database

    a = Depot(Database.open(db_path), actor="a", clock=clock)
    b = Depot(Database.open(db_path), actor="b", clock=clock)
    try:
        for _ in range(40):
            trash(a, new_order(source="Plain Client"))
        clock.advance(31 * DAY)
        counts: list[int] = []
        go = threading.Barrier(2)

        def work(d: Depot) -> None:
            go.wait()
            counts.append(run_auto_archive(d, batch=7, max_batches=50))

        threads = [threading.Thread(target=work, args=(d,)) for d in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == 40
        with a.uow(write=False) as uow:
            autos = uow.session.query(AuditEntry).filter(AuditEntry.actor == "depot").count()
        assert autos == 40
        assert sum(queries.counts(a, archived=True).values()) == 40
    finally:
        a.close()
        b.close()


def test_batches_leave_the_rest_for_the_next_transaction(depot, partners, new_order, clock) -> None:
    for _ in range(5):
        trash(depot, new_order(source="Plain Client"))
    clock.advance(31 * DAY)
    assert AutoArchive(batch=2).execute(depot).count == 2
    assert AutoArchive(batch=2).preview(depot).lines[-1] == "They are archived 2 at a time."
    assert run_auto_archive(depot, batch=2) == 3


def test_unarchive_brings_it_back_and_the_depot_leaves_it_there(depot, partners, new_order, rows, clock) -> None:
    n = new_order(source="Plain Client")
    trash(depot, n)
    clock.advance(31 * DAY)
    run_auto_archive(depot)
    version = rows(depot, n).order.version

    pv = Unarchive(n, expected_version=version).preview(depot)
    assert pv.yes == "Unarchive" and pv.lines[1] == "It comes back to the working lists."
    r = Unarchive(n, expected_version=version).execute(depot)
    x = rows(depot, n)
    assert x.order.archived is False and x.last.action == "unarchive" and x.last.actor == "tester"
    assert r.message == f"Order {n} taken out of the archive; it stays Rejected."
    assert n in [c.number for c in queries.board(depot)]

    clock.advance(365 * DAY)  # the dispatcher wanted it back: the depot does not take it again
    assert run_auto_archive(depot) == 0
    assert not _archived(rows, depot, n)
    with pytest.raises(Refused, match="is not archived"):
        Unarchive(n).execute(depot)


def test_archived_orders_stay_in_searches_exports_and_reports(depot, partners, new_order, clock) -> None:
    delivered = new_order(source="Plain Client", ref="FIND-ME-7")
    _finish(depot, delivered, Status.DELIVERED)
    rejected = new_order(source="Plain Client")
    trash(depot, rejected, code=ReasonCode.DAMAGED)
    report_before = queries.report(depot)
    clock.advance(31 * DAY)
    assert run_auto_archive(depot) == 2

    # the working lists no longer show them; All information's Archived list and a search do
    assert {delivered, rejected}.isdisjoint(c.number for c in queries.board(depot))
    archived = queries.board(depot, queries.BoardFilter(archived=True))
    assert {delivered, rejected} <= {c.number for c in archived}
    found = queries.board(depot, queries.BoardFilter(text="FIND-ME-7", archived=True))
    assert [c.number for c in found] == [delivered]
    # exported, marked archived
    orders = {o["number"]: o for o in export_json(depot)["orders"]}
    assert orders[delivered]["flags"]["archived"] is True
    assert orders[rejected]["flags"]["archived"] is True
    assert [o["number"] for o in export_json(depot, archived=True)["orders"]] == sorted(
        [delivered, rejected], key=[o["number"] for o in export_json(depot)["orders"]].index
    )
    # counted in the report as before
    assert queries.report(depot) == report_before
    assert queries.report(depot)["work"]["Delivered"] == 1


async def test_the_relay_runs_the_automatic_archive(depot, partners, new_order, rows, clock) -> None:
    """The relay (in the console and as `dispatchdesk relay`) archives by itself, now and then."""
    import asyncio

    from dispatchdesk.link.relay import Relay
    from helpers import wait_for

    n = new_order(source="Plain Client")
    await asyncio.to_thread(trash, depot, n)
    clock.advance(31 * DAY)
    relay = Relay(depot, archive_every=0.05, archive_first_after=0.0, poll_interval=0.05)
    await relay.start()
    try:
        await wait_for(None, lambda: _archived(rows, depot, n), "the relay to archive the order",
                       in_thread=True)
    finally:
        await relay.stop()
    assert relay.archived == 1
    assert rows(depot, n).last.actor == "depot"


@pytest.mark.postgres
def test_two_workers_on_postgresql_archive_each_order_once(pg_fresh_url, open_depot, add_partners,
                                                          make_order, clock) -> None:
    """On PostgreSQL two workers' UPDATEs may run at once: the second waits for the first,
    then finds the rule no longer holds for the orders it archived (read committed re-checks
    the WHERE), so each order is archived and audited once."""
    a, b = open_depot(pg_fresh_url, "a"), open_depot(pg_fresh_url, "b")
    add_partners(a)
    early = [make_order(a, source="Plain Client") for _ in range(6)]
    for n in early:
        trash(a, n)
    clock.advance(31 * DAY)
    first, second = due_for_archive(a), due_for_archive(b)
    assert archive_ids(a, first).count == 6 and archive_ids(b, second).count == 0

    late = [make_order(a, source="Plain Client") for _ in range(30)]
    for n in late:
        trash(a, n)
    clock.advance(31 * DAY)
    counts: list[int] = []
    go = threading.Barrier(2)

    def work(d: Depot) -> None:
        go.wait()
        counts.append(run_auto_archive(d, batch=4, max_batches=50))

    threads = [threading.Thread(target=work, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 30
    with a.uow(write=False) as uow:
        autos = uow.session.query(AuditEntry).filter(AuditEntry.actor == "depot").count()
    assert autos == 36
