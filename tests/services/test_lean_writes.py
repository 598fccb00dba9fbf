"""Issue 13 item 3: an action on one order writes through the lean path (no ORM) and the
database gets exactly what the ORM path wrote; the version check still refuses a change made
by someone else at the same moment, and nothing is half-written."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dispatchdesk.domain import ReasonCode, Status
from dispatchdesk.services import (
    Archive,
    CallBack,
    Conflict,
    Reject,
    SetStatus,
    Trash,
    Unarchive,
    dispatch,
)
from dispatchdesk.services import core as core_mod


def _orm(cls):
    """The same action, forced onto the ORM path."""

    @dataclass(frozen=True)
    class OnTheOrm(cls):  # type: ignore[misc, valid-type]
        def lean(self) -> bool:
            return False

    OnTheOrm.__name__ = f"Orm{cls.__name__}"
    return OnTheOrm


def _written(rows, depot, number: str) -> dict:
    """What an action left in the database, without ids, numbers and references."""
    x = rows(depot, number)
    o = x.order
    order = {k: getattr(o, k) for k in (
        "status", "version", "assignee_id", "dispatched_at", "partner_status", "archived",
        "cancellation_requested", "partner_not_informed", "reject_reason", "status_changed_at")}
    a = x.last
    audit = {k: getattr(a, k) for k in (
        "actor", "action", "from_status", "to_status", "reason", "after_version", "undoable_until")}
    audit["detail"] = a.detail.replace(number, "N")
    audit["before"] = a.before
    audit["notices"] = len(a.notices)
    notices = [(n.kind, n.partner.name, n.state, n.seq, n.release_at,
                {k: v for k, v in n.payload.items() if k not in ("order", "your_ref")})
               for n in x.notices]
    return {"order": order, "audit": audit, "notices": notices,
            "followups": [(f.text.replace(number, "N"), f.partner_id) for f in x.followups]}


@pytest.mark.parametrize("make", [
    lambda n: Trash(n),
    lambda n: Trash(n, code=ReasonCode.DAMAGED),
    lambda n: Reject(n, notify_buyer=True, message="Sorry"),
    lambda n: CallBack(n),
    lambda n: SetStatus(n, status=Status.ACCEPTED),
    lambda n: Archive(n),
], ids=["trash", "trash-code", "reject", "call-back", "accepted", "archive"])
def test_the_lean_path_writes_what_the_orm_path_wrote(depot, partners, new_order, rows, clock, make) -> None:
    lean_n = new_order(source="Corner Bakery", tags=["fragile"])  # a manual partner: follow-ups
    orm_n = new_order(source="Corner Bakery", tags=["fragile"])
    for n in (lean_n, orm_n):
        dispatch(depot, n, "Swift Haulage")
    clock.advance(5)
    lean_action, orm_action = make(lean_n), make(orm_n)
    orm_action = _orm(type(orm_action))(**{**orm_action.__dict__})
    assert lean_action.lean() and not orm_action.lean()
    r1 = lean_action.execute(depot)
    r2 = orm_action.execute(depot)
    assert r1.message.replace(lean_n, "N") == r2.message.replace(orm_n, "N")
    assert _written(rows, depot, lean_n) == _written(rows, depot, orm_n)


def test_unarchive_on_the_lean_path(depot, partners, new_order, rows) -> None:
    n = new_order(source="Plain Client")
    Archive(n).execute(depot)
    assert Unarchive(n).lean()
    r = Unarchive(n).execute(depot)
    assert rows(depot, n).order.archived is False and r.version == rows(depot, n).order.version


@pytest.mark.postgres
def test_a_change_at_the_same_moment_is_refused_on_postgresql(
    pg_fresh_url, open_depot, add_partners, make_order, rows, monkeypatch
) -> None:
    """Between the lean path's read and its UPDATE another dispatcher commits a change: the
    UPDATE finds the version moved, the action is refused in one sentence, nothing written."""
    a, b = open_depot(pg_fresh_url, "a"), open_depot(pg_fresh_url, "b")
    add_partners(a)
    n = make_order(a, source="Plain Client")
    before = rows(a, n)
    real = core_mod.load_order_lean

    def load_then_someone_else_acts(uow, number, **kw):
        order = real(uow, number, **kw)
        _orm(Archive)(number).execute(b)  # another dispatcher, committed meanwhile
        return order

    monkeypatch.setattr("dispatchdesk.services.actions.load_order_lean", load_then_someone_else_acts)
    with pytest.raises(Conflict, match="changed by someone else at the same moment"):
        Trash(n).execute(a)
    monkeypatch.undo()
    after = rows(a, n)
    assert after.order.status == "created" and after.order.archived is True
    assert len(after.notices) == len(before.notices)
    assert [e.action for e in after.audit] == [e.action for e in before.audit] + ["archive"]
