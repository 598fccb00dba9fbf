"""The services: each action's change, audit entry, notices and follow-ups, read back from the
DATABASE in a fresh session. Cancellations, reject, undo and bulk have their own files
(test_services_cancel.py, test_services_undo.py)."""

from __future__ import annotations

import pytest

from dispatchdesk.domain import Status
from dispatchdesk.services import (
    Archive,
    Bulk,
    Conflict,
    Duplicate,
    InvalidInput,
    NotFound,
    Refused,
    SetStatus,
    Trash,
    archive,
    cancel_shipment,
    dispatch,
    duplicate,
    set_status,
    set_tags,
    trash,
)

pytestmark = pytest.mark.usefixtures("partners")


def advance_to(depot, number: str, status: Status, partner: str = "Swift Haulage") -> None:
    """Move an order along the working lists with the ordinary services."""
    chain = [Status.DISPATCHED, Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED]
    for st in chain[: chain.index(status) + 1]:
        if st is Status.DISPATCHED:
            dispatch(depot, number, partner)
        else:
            set_status(depot, number, st)


# --------------------------------------------------------------------------- dispatch


def test_dispatch_assigns_queues_the_order_notice_and_audits(rows, depot, new_order):
    n = new_order(source="Plain Client")
    before = rows(depot, n)

    r = dispatch(depot, n, "Swift Haulage", expected_version=before.order.version)

    x = rows(depot, n)
    assert x.order.status == "dispatched"
    assert x.order.assignee.name == "Swift Haulage"
    assert x.order.dispatched_at == depot.now()
    assert x.order.version == before.order.version + 1 == r.version
    assert x.last.action == "dispatch"
    assert x.last.actor == "tester"
    assert (x.last.from_status, x.last.to_status) == ("created", "dispatched")
    assert "Sent to Swift Haulage." in x.last.detail
    assert x.last.undoable_until is None  # sending is not an undoable action
    [notice] = x.notices
    assert x.last.notices == [notice.id] == list(r.notices)
    assert (notice.partner.name, notice.kind, notice.transport, notice.state) == (
        "Swift Haulage",
        "order.new",
        "http",
        "queued",
    )
    assert notice.seq == 1
    assert notice.payload["order"] == n
    assert [ln["article"] for ln in notice.payload["lines"]] == ["BOX-S", "PALLET"]
    assert notice.payload["delivery_address"] == "22 High Street, York"
    assert "your_ref" not in notice.payload  # the subcontractor did not send it to us
    assert x.followups == []


def test_dispatch_to_a_partner_without_link_is_a_follow_up(rows, depot, new_order):
    n = new_order()
    r = dispatch(depot, n, "Van Man")
    x = rows(depot, n)
    [notice] = x.notices
    assert (notice.transport, notice.state) == ("manual", "follow-up")
    [f] = x.followups
    assert f.partner.name == "Van Man" and f.notice_id == notice.id
    assert f.text == f"Tell Van Man by hand: new order {n}."
    assert x.last.followups == [f.id] == list(r.followups)


@pytest.mark.parametrize(
    "partner, why",
    [
        ("Plain Client", "orders are sent only to a subcontractor or a warehouse"),
        ("Shopfront", "orders are sent only to a subcontractor or a warehouse"),
    ],
)
def test_dispatch_refused_to_a_partner_that_does_not_take_orders(
    rows, counts, depot, new_order, partner, why
):
    n = new_order()
    c = counts(depot)
    with pytest.raises(Refused, match=why):
        dispatch(depot, n, partner)
    assert counts(depot) == c
    assert rows(depot, n).order.status == "created"


def test_dispatch_refused_to_unknown_partner_names_the_known_ones(depot, new_order):
    n = new_order()
    with pytest.raises(NotFound, match="no partner named 'Nobody'.*Swift Haulage"):
        dispatch(depot, n, "Nobody")


def test_unknown_order_is_not_found(depot):
    with pytest.raises(NotFound, match="no order numbered 'XX-1'"):
        trash(depot, "XX-1")


# --------------------------------------------------------------------------- set status


def test_set_status_created_to_dispatched_needs_a_partner(rows, depot, new_order):
    n = new_order()
    with pytest.raises(Refused, match="Choose the subcontractor or warehouse"):
        set_status(depot, n, Status.DISPATCHED)
    r = set_status(depot, n, "Dispatched", partner="Central Warehouse")
    assert r.to_status is Status.DISPATCHED
    x = rows(depot, n)
    assert x.order.assignee.name == "Central Warehouse"
    assert x.notices[0].kind == "order.new"


def test_set_status_created_to_accepted_is_our_own_driver(rows, depot, new_order):
    n = new_order()
    set_status(depot, n, Status.ACCEPTED)
    x = rows(depot, n)
    assert x.order.status == "accepted"
    assert x.last.action == "set_status"
    assert (x.last.from_status, x.last.to_status) == ("created", "accepted")
    assert x.last.detail.startswith("Created → Accepted.")
    assert x.notices == []  # an own order: nobody to tell


def test_dispatched_cannot_skip_to_picked_up(depot, new_order):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    with pytest.raises(Refused, match="cannot go from Dispatched to Picked up"):
        set_status(depot, n, Status.PICKED_UP)


@pytest.mark.parametrize(
    "frm, to",
    [
        (Status.DISPATCHED, Status.ACCEPTED),
        (Status.ACCEPTED, Status.PICKED_UP),
        (Status.PICKED_UP, Status.DELIVERED),
    ],
)
def test_progress_moves_tell_the_source(rows, depot, new_order, frm, to):
    n = new_order(source="Plain Client", ref="PC-77")
    advance_to(depot, n, frm)
    c = rows(depot, n)
    set_status(depot, n, to)
    x = rows(depot, n)
    assert x.order.status == to.value
    assert x.order.version == c.order.version + 1
    assert (x.last.from_status, x.last.to_status, x.last.actor) == (frm.value, to.value, "tester")
    status_notices = [m for m in x.notices if m.kind == "order.status"]
    assert status_notices[-1].partner.name == "Plain Client"
    assert status_notices[-1].state == "queued"  # a status update is not held
    assert status_notices[-1].payload == {"order": n, "status": to.value, "your_ref": "PC-77"}
    assert x.last.notices == [status_notices[-1].id]


def test_progress_of_own_order_tells_nobody(rows, depot, new_order):
    n = new_order()
    advance_to(depot, n, Status.DELIVERED)
    x = rows(depot, n)
    assert x.order.status == "delivered"
    assert [m.kind for m in x.notices] == ["order.new"]
    assert [a.action for a in x.audit] == [
        "created",
        "dispatch",
        "set_status",
        "set_status",
        "set_status",
    ]


@pytest.mark.parametrize(
    "frm, to, why",
    [
        (Status.CREATED, Status.PICKED_UP, "cannot go from Created to Picked up"),
        (Status.CREATED, Status.DELIVERED, "cannot go from Created to Delivered"),
        (Status.DISPATCHED, Status.DELIVERED, "cannot go from Dispatched to Delivered"),
        (Status.ACCEPTED, Status.DELIVERED, "cannot go from Accepted to Delivered"),
        (Status.PICKED_UP, Status.CREATED, "Handle it as a return"),
        (Status.DELIVERED, Status.CREATED, "Handle it as a return"),
        (Status.DELIVERED, Status.PICKED_UP, "Delivered"),
        (Status.ACCEPTED, Status.ACCEPTED, "already Accepted"),
        (Status.PICKED_UP, Status.REJECTED, "Handle it as a return"),
        (Status.DELIVERED, Status.REJECTED, "Handle it as a return"),
        (Status.CREATED, Status.CANCELLED, "Use Create cancellation"),
        (Status.ACCEPTED, Status.CANCELLED, "Use Create cancellation"),
    ],
)
def test_refused_moves_change_nothing(rows, counts, depot, new_order, frm, to, why):
    n = new_order(source="Plain Client")
    if frm is not Status.CREATED:
        advance_to(depot, n, frm)
    before = rows(depot, n)
    c = counts(depot)
    with pytest.raises(Refused, match=why):
        set_status(depot, n, to)
    after = rows(depot, n)
    assert counts(depot) == c
    assert (after.order.status, after.order.version) == (frm.value, before.order.version)


def test_unknown_status_text_is_invalid_input(depot, new_order):
    n = new_order()
    with pytest.raises(InvalidInput, match="Unknown status 'Shipped'.*Picked up"):
        set_status(depot, n, "Shipped")


@pytest.mark.parametrize("frm", [Status.CREATED, Status.DISPATCHED, Status.ACCEPTED])
def test_silent_rejected_marks_partner_not_informed(rows, depot, new_order, frm):
    n = new_order(source="Plain Client")
    if frm is not Status.CREATED:
        advance_to(depot, n, frm)
    p = SetStatus(n, status=Status.REJECTED).preview(depot)
    assert "Plain Client will NOT be told; use Trash to tell them." in p.lines
    if frm is not Status.CREATED:
        assert "Swift Haulage will NOT be told; use Trash to tell them." in p.lines
    before = rows(depot, n)

    set_status(depot, n, Status.REJECTED, expected_version=p.version)

    x = rows(depot, n)
    assert x.order.status == "rejected"
    assert x.order.partner_not_informed is True
    assert len(x.notices) == len(before.notices)  # nobody told
    assert x.followups == []
    assert (x.last.action, x.last.from_status, x.last.to_status) == (
        "set_status",
        frm.value,
        "rejected",
    )
    assert "was NOT told." in x.last.detail
    assert x.last.notices == []


def test_silent_rejected_of_own_order_has_no_mark(rows, depot, new_order):
    n = new_order()
    set_status(depot, n, Status.REJECTED)
    assert rows(depot, n).order.partner_not_informed is False


# --------------------------------------------------------------------------- cancel a sent shipment


@pytest.mark.parametrize("frm", [Status.DISPATCHED, Status.ACCEPTED])
def test_cancel_sent_shipment_unassigns_and_holds_a_revocation(rows, depot, new_order, frm):
    n = new_order(source="Plain Client")
    advance_to(depot, n, frm)

    r = cancel_shipment(depot, n)

    x = rows(depot, n)
    assert x.order.status == "created"
    assert x.order.assignee_id is None and x.order.dispatched_at is None
    assert r.undo_until is not None
    revocation = x.notices[-1]
    assert (revocation.partner.name, revocation.kind, revocation.transport, revocation.state) == (
        "Swift Haulage",
        "order.revoked",
        "http",
        "held",
    )
    assert revocation.release_at == r.undo_until == x.last.undoable_until
    assert revocation.payload == {"order": n, "status": "created"}
    assert x.last.action == "revoke"
    assert (x.last.from_status, x.last.to_status) == (frm.value, "created")
    assert x.last.notices == [revocation.id]
    assert x.last.before["assignee_id"] is not None
    # it can be sent again, to someone else
    dispatch(depot, n, "Van Man")
    assert rows(depot, n).order.assignee.name == "Van Man"


def test_drop_on_created_is_the_same_as_cancel_shipment(rows, depot, new_order):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    set_status(depot, n, "created")
    x = rows(depot, n)
    assert x.order.status == "created" and x.order.assignee_id is None
    assert x.notices[-1].kind == "order.revoked"


def test_cancel_shipment_after_pickup_refused_as_a_return(rows, counts, depot, new_order):
    n = new_order()
    advance_to(depot, n, Status.PICKED_UP)
    c = counts(depot)
    with pytest.raises(Refused, match=r"Picked up.*Handle it as a return"):
        cancel_shipment(depot, n)
    assert counts(depot) == c
    assert rows(depot, n).order.assignee.name == "Swift Haulage"


def test_cancel_shipment_of_a_partner_without_link_makes_a_follow_up(rows, depot, new_order):
    n = new_order()
    dispatch(depot, n, "Van Man")
    cancel_shipment(depot, n)
    x = rows(depot, n)
    assert (x.notices[-1].kind, x.notices[-1].state) == ("order.revoked", "follow-up")
    assert x.followups[-1].text == f"Tell Van Man by hand: the revocation of order {n}."
    assert x.followups[-1].notice_id == x.notices[-1].id


# --------------------------------------------------------------------------- trash


def test_trash_tells_the_source_and_takes_back_from_the_assignee(rows, depot, new_order):
    n = new_order(source="Plain Client", ref="PC-1")
    dispatch(depot, n, "Swift Haulage")
    p = Trash(n).preview(depot)
    assert "Plain Client will be told over the link after the undo window (rejection)." in p.lines
    assert "Swift Haulage will be told over the link after the undo window (revocation)." in p.lines

    r = trash(depot, n, expected_version=p.version)

    x = rows(depot, n)
    assert x.order.status == "rejected"
    assert x.order.partner_not_informed is False
    rejection = x.notices_to("Plain Client")[-1]
    revocation = x.notices_to("Swift Haulage")[-1]
    assert (rejection.kind, rejection.state, rejection.transport) == (
        "order.rejected",
        "held",
        "http",
    )
    assert rejection.payload == {"order": n, "status": "rejected", "your_ref": "PC-1"}
    assert (revocation.kind, revocation.state) == ("order.revoked", "held")
    assert rejection.release_at == r.undo_until == x.last.undoable_until
    assert [m.seq for m in x.notices] == [1, 2, 3]  # order.new, then the two of the trash
    assert x.last.action == "trash" and x.last.actor == "tester"
    assert (x.last.from_status, x.last.to_status) == ("dispatched", "rejected")
    assert set(x.last.notices) == {rejection.id, revocation.id} == set(r.notices)
    assert x.last.before["status"] == "dispatched"


def test_trash_clears_a_cancellation_request(rows, depot, new_order):
    from dispatchdesk.services import receive

    n = new_order(source="Plain Client", ref="PC-9")
    dispatch(depot, n, "Swift Haulage")
    receive(depot, "Plain Client", {"id": "m1", "kind": "order.revoked", "order": "PC-9"})
    assert rows(depot, n).order.cancellation_requested is True
    trash(depot, n)
    x = rows(depot, n)
    assert x.order.cancellation_requested is False and x.order.cancellation_request is None


def test_trash_to_a_manual_client_makes_a_follow_up(rows, depot, new_order):
    n = new_order(source="Corner Bakery")
    trash(depot, n)
    x = rows(depot, n)
    [m] = x.notices
    assert (m.kind, m.transport, m.state) == ("order.rejected", "manual", "follow-up")
    [f] = x.followups
    assert f.text == f"Tell Corner Bakery by hand: the rejection of order {n}."
    assert x.last.followups == [f.id]


def test_trash_refused_on_every_failing_check_at_once(counts, make_order, depot):
    n = make_order(
        depot,
        source="Plain Client",
        documents=[("delivery_note", "DN-1"), ("invoice", "INV-1")],
        backorders=[("BOX-S", 1), ("PALLET", 1)],
    )
    c = counts(depot)
    with pytest.raises(Refused) as e:
        trash(depot, n)
    assert e.value.reasons == [
        f"Order {n} is referenced by a delivery note and an invoice.",
        f"Order {n} has 2 back-ordered lines.",
    ]
    assert counts(depot) == c


# --------------------------------------------------------------------------- final orders


@pytest.fixture(params=["rejected", "cancelled"])
def final_order(request, depot, new_order):
    from dispatchdesk.services import CancellationRequest, ReasonCode, cancel

    n = new_order(source="Plain Client", tags=["fragile"])
    if request.param == "rejected":
        trash(depot, n)
    else:
        cancel(depot, n, CancellationRequest(ReasonCode.DAMAGED))
    return n


def test_archive_and_tags_allowed_on_final_orders(rows, depot, final_order):
    n = final_order
    v = rows(depot, n).order.version
    r = archive(depot, n, expected_version=v)
    x = rows(depot, n)
    assert x.order.archived is True
    assert r.version == x.order.version  # the version the next action must quote
    assert x.last.action == "archive" and x.last.actor == "tester"
    assert x.last.from_status == x.last.to_status == x.order.status

    r = set_tags(depot, n, add=["claim"], remove=["fragile"], expected_version=r.version)
    x = rows(depot, n)
    assert [t.name for t in x.order.tags] == ["claim"]
    assert x.last.action == "tags" and x.last.detail == "Tags: claim."
    assert r.version == x.order.version

    archive(depot, n, False, expected_version=r.version)
    assert rows(depot, n).order.archived is False


@pytest.mark.parametrize(
    "act",
    [
        lambda d, n: dispatch(d, n, "Swift Haulage"),
        lambda d, n: set_status(d, n, Status.CREATED),
        lambda d, n: set_status(d, n, Status.ACCEPTED),
        lambda d, n: set_status(d, n, Status.REJECTED),
        lambda d, n: cancel_shipment(d, n),
        lambda d, n: trash(d, n),
        lambda d, n: __import__("dispatchdesk.services").services.reject(d, n),
        lambda d, n: __import__("dispatchdesk.services").services.cancel(
            d, n, __import__("dispatchdesk.services").services.CancellationRequest(None)
        ),
    ],
    ids=[
        "dispatch",
        "created",
        "accepted",
        "rejected",
        "cancel_shipment",
        "trash",
        "reject",
        "cancel",
    ],
)
def test_everything_else_refused_on_final_orders(rows, counts, depot, final_order, act):
    n = final_order
    before = rows(depot, n)
    c = counts(depot)
    with pytest.raises(Refused) as e:
        act(depot, n)
    assert "final" in str(e.value) or "already" in str(e.value)
    assert counts(depot) == c
    assert rows(depot, n).order.version == before.order.version


def test_archive_twice_is_refused(depot, new_order):
    n = new_order()
    archive(depot, n)
    with pytest.raises(Refused, match="already archived"):
        archive(depot, n)


def test_tags_are_checked(rows, counts, depot, new_order):
    n = new_order()
    with pytest.raises(InvalidInput, match="cannot be empty"):
        set_tags(depot, n, add=["  "])
    with pytest.raises(InvalidInput, match="longer than 50"):
        set_tags(depot, n, add=["x" * 51])
    c = counts(depot)
    with pytest.raises(InvalidInput, match="has no tag 'nope'"):
        set_tags(depot, n, add=["new"], remove=["nope"])
    assert counts(depot) == c
    assert rows(depot, n).order.tags == []


# --------------------------------------------------------------------------- duplicate


def test_duplicate_as_new_gets_a_new_number_and_replaces_the_old(rows, depot, new_order):
    n = new_order(source="Plain Client", ref="PC-5", tags=["urgent"])
    trash(depot, n)

    r = duplicate(depot, n)

    assert r.order != n
    new = rows(depot, r.order)
    old = rows(depot, n)
    assert new.order.status == "created"
    assert new.order.replaces_id == old.order.id
    assert new.order.source.name == "Plain Client" and new.order.partner_ref == "PC-5"
    assert new.order.assignee_id is None
    assert [(ln.article, ln.quantity, ln.cancelled) for ln in new.order.lines] == [
        ("BOX-S", 2, 0),
        ("PALLET", 1, 0),
    ]
    assert [t.name for t in new.order.tags] == ["urgent"]
    assert new.notices == [] and new.followups == []
    assert (new.last.action, new.last.actor, new.last.to_status) == (
        "duplicate",
        "tester",
        "created",
    )
    assert f"replaces {n}" in new.last.detail
    assert old.order.status == "rejected"  # the old order is left as it was
    assert (old.last.action, old.last.detail) == (
        "duplicated",
        f"Duplicated as new order {r.order}.",
    )


def test_duplicate_of_a_cancelled_order_resubmits_every_line(rows, depot, new_order):
    from dispatchdesk.services import CancellationRequest, ReasonCode, cancel

    n = new_order(source="Plain Client", lines={"A": 5, "B": 2})
    cancel(depot, n, CancellationRequest(ReasonCode.NOT_IN_STOCK))
    assert rows(depot, n).order.status == "cancelled"
    r = duplicate(depot, n)
    new = rows(depot, r.order)
    assert [(ln.article, ln.quantity, ln.cancelled) for ln in new.order.lines] == [
        ("A", 5, 0),
        ("B", 2, 0),
    ]


# --------------------------------------------------------------------------- bulk


def test_bulk_trash_reports_each_order_and_commits_the_others(rows, make_order, depot, new_order):
    good1 = new_order(source="Plain Client")
    bad = make_order(depot, source="Plain Client", documents=[("invoice", "INV-9")])
    good2 = new_order(source="Corner Bakery")

    result = Bulk(tuple(Trash(n) for n in (good1, bad, good2))).execute(depot)

    assert [(i.order, i.ok) for i in result.items] == [(good1, True), (bad, False), (good2, True)]
    assert result.failed[0].message == f"Order {bad} is referenced by an invoice."
    assert result.summary() == "2 done, 1 refused."
    assert rows(depot, good1).order.status == "rejected"
    assert rows(depot, good2).order.status == "rejected"
    b = rows(depot, bad)
    assert b.order.status == "created" and b.notices == [] and b.last.action == "created"


def test_bulk_with_versions_refuses_the_stale_one(rows, depot, new_order):
    a, b = new_order(), new_order()
    va, vb = rows(depot, a).order.version, rows(depot, b).order.version
    set_tags(depot, b, add=["changed"])  # someone else changes b
    result = Bulk((Archive(a, expected_version=va), Archive(b, expected_version=vb))).execute(depot)
    assert [i.ok for i in result.items] == [True, False]
    assert b in result.items[1].message and "changed by tester" in result.items[1].message
    assert rows(depot, b).order.archived is False


def test_bulk_move_and_unknown_order(rows, depot, new_order):
    a = new_order()
    result = Bulk(tuple(SetStatus(n, status=Status.ACCEPTED) for n in (a, "NOPE-1"))).execute(depot)
    assert [i.ok for i in result.items] == [True, False]
    assert "no order numbered 'NOPE-1'" in result.items[1].message
    assert rows(depot, a).order.status == "accepted"


def test_bulk_refuses_an_action_it_cannot_do(depot, new_order):
    with pytest.raises(InvalidInput, match="cannot be done in bulk"):
        Bulk((Duplicate(new_order()),))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- conflicts


def test_stale_expected_version_is_a_conflict_naming_the_order(rows, counts, depot, new_order):
    n = new_order(source="Plain Client")
    seen = Trash(n).preview(depot).version
    set_tags(depot, n, add=["meanwhile"])
    c = counts(depot)
    with pytest.raises(Conflict, match=rf"Order {n} was changed by tester while you were looking at it: it is now Created"):
        trash(depot, n, expected_version=seen)
    assert counts(depot) == c
    assert rows(depot, n).order.status == "created"


def test_two_depots_on_one_file_second_writer_gets_conflict(
    rows, counts, open_depot, depot, db_path, clock, new_order
):
    n = new_order(source="Plain Client")
    other = open_depot(db_path, actor="colleague")
    try:
        mine = Trash(n).preview(depot).version
        theirs = SetStatus(n, status=Status.ACCEPTED).preview(other).version
        assert mine == theirs
        set_status(other, n, Status.ACCEPTED, expected_version=theirs)
        c = counts(depot)
        with pytest.raises(Conflict, match=rf"Order {n} was changed by colleague .*now Accepted"):
            trash(depot, n, expected_version=mine)
        assert counts(depot) == c
        x = rows(depot, n)
        assert x.order.status == "accepted" and x.last.actor == "colleague"
    finally:
        other.close()


def test_every_action_bumps_the_version_once(rows, depot, new_order):
    n = new_order()
    v = rows(depot, n).order.version
    for act in (
        lambda: set_tags(depot, n, add=["a"]),
        lambda: archive(depot, n),
        lambda: archive(depot, n, False),
        lambda: dispatch(depot, n, "Swift Haulage"),
    ):
        r = act()
        x = rows(depot, n)
        assert x.order.version == r.version == v + 1 == x.last.after_version
        v += 1


def test_one_trash_issues_six_statements(depot, new_order):
    """The order with its partners and what the checks and the outbox need (documents,
    back-orders, undo window, last sequence) in one query; no lines or tags loaded; then the
    writes. Seen by SQLite itself (the lean path runs on the DBAPI cursor, not through Core)."""
    from sqlalchemy import event

    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    seen: list[str] = []

    depot.db.engine.dispose()  # new connections, each traced from the start

    def trace(dbapi_conn, _record):
        dbapi_conn.set_trace_callback(lambda sql: seen.append(" ".join(sql.split())))

    event.listen(depot.db.engine, "connect", trace)
    try:
        depot.db.change_seq()  # open (and trace) the connection first
        seen.clear()
        trash(depot, n)
    finally:
        event.remove(depot.db.engine, "connect", trace)
        depot.db.engine.dispose()
    # SQLite reports a statement again for what its triggers run (0008's search index and
    # board counts on orders): one statement, once
    seen = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert [s.split(" (")[0].split(" SET")[0][:22] for s in seen] == [
        "BEGIN IMMEDIATE",
        "SELECT orders.id, orde",  # with both partners joined, and the context
        "UPDATE orders",  # checked against the version
        "INSERT INTO notices",  # both notices in one executemany
        "INSERT INTO notices",
        "INSERT INTO audit",
        "UPDATE depot",  # the change sequence other sessions watch
        "COMMIT",
    ]
    update = next(s for s in seen if s.startswith("UPDATE orders"))
    # only the columns that changed (the clock stood still: status_changed_at is the same), and
    # the version checked
    assert update.split(" WHERE ")[0] == "UPDATE orders SET version=3, status='rejected'"
    assert update.split(" WHERE ")[1].endswith("AND orders.version = 2")
