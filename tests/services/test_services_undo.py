"""The undo window (SPEC 4.7): notices held until it closes, undo inside it, refused after it."""

from __future__ import annotations

import pytest

from dispatchdesk.domain import Status
from dispatchdesk.services import (
    CancellationRequest,
    InvalidInput,
    ReasonCode,
    Refused,
    cancel,
    cancel_shipment,
    dispatch,
    release_held_notices,
    set_setting,
    set_status,
    set_tags,
    trash,
    undo,
)

pytestmark = pytest.mark.usefixtures("partners")


def test_undo_trash_inside_the_window(rows, depot, clock, new_order):
    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    before = rows(depot, n)
    r = trash(depot, n)
    clock.advance(9)

    u = undo(depot, n)

    x = rows(depot, n)
    assert x.order.status == "dispatched"
    assert x.order.assignee.name == "Swift Haulage"
    assert x.order.dispatched_at == before.order.dispatched_at
    assert x.order.status_changed_at == before.order.status_changed_at
    assert x.order.version == u.version == r.version + 1
    held = [m for m in x.notices if m.id in r.notices]
    assert [m.state for m in held] == ["withdrawn", "withdrawn"]
    assert all(m.next_attempt_at is None for m in held)
    trash_entry, undo_entry = x.audit[-2:]
    assert (trash_entry.action, undo_entry.action) == ("trash", "undo")
    assert trash_entry.undone_by == undo_entry.id
    assert undo_entry.undo_of == trash_entry.id
    assert (undo_entry.actor, undo_entry.from_status, undo_entry.to_status) == (
        "tester",
        "rejected",
        "dispatched",
    )
    assert "2 notice(s) withdrawn" in undo_entry.detail
    assert u.message == f"Undone: order {n} is Dispatched again; nothing was sent."
    # a withdrawn notice is never released
    clock.advance(60)
    assert release_held_notices(depot) == 0


def test_undo_twice_is_refused(depot, new_order):
    n = new_order(source="Plain Client")
    trash(depot, n)
    undo(depot, n)
    with pytest.raises(Refused, match=f"nothing to undo on order {n}"):
        undo(depot, n)


def test_undo_after_the_window_is_refused(rows, counts, depot, clock, new_order):
    n = new_order(source="Plain Client")
    trash(depot, n)
    clock.advance(10.5)
    c = counts(depot)
    with pytest.raises(
        Refused, match=f"The undo window for order {n} has closed: the action is final."
    ):
        undo(depot, n)
    assert counts(depot) == c
    x = rows(depot, n)
    assert x.order.status == "rejected" and x.notices[-1].state == "held"


def test_undo_refused_once_the_notice_was_released(rows, counts, depot, clock, new_order):
    n = new_order(source="Plain Client")
    trash(depot, n)
    clock.advance(10)  # the window's last moment: the relay may release it now
    assert release_held_notices(depot) == 1
    assert rows(depot, n).notices[-1].state == "queued"
    c = counts(depot)
    with pytest.raises(
        Refused, match="The rejection notice to Plain Client has already been released for sending"
    ):
        undo(depot, n)
    assert counts(depot) == c
    assert rows(depot, n).order.status == "rejected"


def test_release_only_what_is_due(rows, depot, clock, new_order):
    a = new_order(source="Plain Client")
    trash(depot, a)
    clock.advance(5)
    b = new_order(source="Plain Client")
    trash(depot, b)
    assert release_held_notices(depot) == 0
    clock.advance(5)
    assert release_held_notices(depot) == 1
    assert rows(depot, a).notices[0].state == "queued"
    assert rows(depot, a).notices[0].next_attempt_at == clock.now
    assert rows(depot, b).notices[0].state == "held"


def test_undo_seconds_zero_holds_nothing_and_offers_no_undo(rows, depot, new_order):
    set_setting(depot, "undo_seconds", "0")
    n = new_order(source="Plain Client")
    r = trash(depot, n)
    assert r.undo_until is None
    x = rows(depot, n)
    [m] = x.notices
    assert (m.state, m.release_at, m.next_attempt_at) == ("queued", None, depot.now())
    assert x.last.undoable_until is None
    assert "can be undone" not in x.last.detail and x.last.undoable_until is None
    with pytest.raises(Refused, match="nothing to undo"):
        undo(depot, n)


def test_undo_window_is_configurable(rows, depot, clock, new_order):
    set_setting(depot, "undo_seconds", "30")
    n = new_order(source="Plain Client")
    r = trash(depot, n)
    assert r.undo_until == clock.now.replace() + (r.undo_until - clock.now)
    clock.advance(25)
    undo(depot, n)
    assert rows(depot, n).order.status == "created"


@pytest.mark.parametrize("value", ["-1", "ten", "3601"])
def test_bad_undo_setting_is_refused(depot, value):
    with pytest.raises(InvalidInput, match="undo_seconds"):
        set_setting(depot, "undo_seconds", value)


def test_undo_cancellation_restores_lines_and_withdraws_follow_ups(rows, depot, clock, new_order):
    n = new_order(source="Corner Bakery", lines={"A": 4, "B": 1})
    cancel(depot, n, CancellationRequest(ReasonCode.DAMAGED, lines={"A": 3}))
    x = rows(depot, n)
    assert x.order.lines[0].cancelled == 3 and x.followups[0].withdrawn is False
    clock.advance(3)

    undo(depot, n)

    x = rows(depot, n)
    assert x.order.status == "created"
    assert [ln.cancelled for ln in x.order.lines] == [0, 0]
    assert x.cancellations[0].state == "undone"
    assert x.notices[0].state == "withdrawn"
    assert x.followups[0].withdrawn is True
    # the number stays used: it is on record
    with pytest.raises(Refused, match="already used"):
        cancel(depot, n, CancellationRequest(ReasonCode.DAMAGED, number=x.cancellations[0].number))


def test_undo_full_cancellation_reopens_the_order(rows, depot, new_order):
    n = new_order(source="Plain Client")
    cancel(depot, n, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
    undo(depot, n)
    x = rows(depot, n)
    assert x.order.status == "created" and all(ln.cancelled == 0 for ln in x.order.lines)
    # and it can be cancelled again, with a fresh number
    cancel(depot, n, CancellationRequest(ReasonCode.CLIENT_CANCELLED))
    assert [c.state for c in rows(depot, n).cancellations] == ["undone", "done"]


def test_undo_cancel_shipment_gives_it_back_to_the_subcontractor(rows, depot, new_order):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    set_status(depot, n, Status.ACCEPTED)
    cancel_shipment(depot, n)
    undo(depot, n)
    x = rows(depot, n)
    assert x.order.status == "accepted"
    assert x.order.assignee.name == "Swift Haulage"
    assert x.notices[-1].kind == "order.revoked" and x.notices[-1].state == "withdrawn"


def test_undo_silent_rejected_clears_the_mark(rows, depot, new_order):
    n = new_order(source="Plain Client")
    set_status(depot, n, Status.REJECTED)
    assert rows(depot, n).order.partner_not_informed is True
    undo(depot, n)
    x = rows(depot, n)
    assert x.order.status == "created" and x.order.partner_not_informed is False


def test_undo_refused_after_a_later_change(rows, counts, depot, new_order):
    n = new_order(source="Plain Client")
    trash(depot, n)
    set_tags(depot, n, add=["looked at"])
    c = counts(depot)
    with pytest.raises(Refused):
        undo(depot, n)
    assert counts(depot) == c
    assert rows(depot, n).order.status == "rejected"


def test_undo_refused_once_a_follow_up_was_done(rows, counts, depot, new_order):
    from dispatchdesk.services import set_followup_done

    n = new_order(source="Corner Bakery")
    r = trash(depot, n)
    [fid] = r.followups
    set_followup_done(depot, fid)
    c = counts(depot)
    with pytest.raises(Refused, match="already marked done by tester"):
        undo(depot, n)
    assert counts(depot) == c
    assert rows(depot, n).order.status == "rejected"


def test_dispatch_cannot_be_undone(depot, new_order):
    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    with pytest.raises(Refused, match="nothing to undo"):
        undo(depot, n)
