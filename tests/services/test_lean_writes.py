"""Issue 13 item 3: an action on one order writes through the lean path (no ORM) and the
database gets exactly what the ORM path wrote; the version check still refuses a change made
by someone else at the same moment, naming who, and nothing is half-written; its commit tells
the consoles listening on PostgreSQL. With the rules (issue 14): an action no rule can fire on
stays lean; one a rule fires on runs through the ORM and commits what its confirm showed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from dispatchdesk.domain import ReasonCode, Status
from dispatchdesk.services import (
    Archive,
    CallBack,
    Conflict,
    Reject,
    RuleInput,
    SaveRule,
    SetStatus,
    Trash,
    Unarchive,
    Undo,
    dispatch,
    parse_condition,
    parse_effect,
    parse_trigger,
)
from dispatchdesk.services import core as core_mod
from dispatchdesk.store import UnitOfWork, listen


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
    with pytest.raises(Conflict, match="changed by b at the same moment"):
        Trash(n).execute(a)
    monkeypatch.undo()
    after = rows(a, n)
    assert after.order.status == "created" and after.order.archived is True
    assert len(after.notices) == len(before.notices)
    assert [e.action for e in after.audit] == [e.action for e in before.audit] + ["archive"]


def test_a_change_seen_late_names_who_made_it(depot, partners, open_depot, db_path, new_order, rows) -> None:
    """The version the dispatcher saw has moved: the lean path's refusal names who moved it,
    as the ORM path's does."""
    n = new_order(source="Plain Client")
    seen = rows(depot, n).order.version
    Archive(n).execute(open_depot(db_path, actor="anna"))
    with pytest.raises(Conflict, match="changed by anna while you were looking at it"):
        Trash(n, expected_version=seen).execute(depot)
    assert rows(depot, n).order.status == "created"


@pytest.mark.postgres
def test_a_lean_commit_tells_the_listening_consoles_on_postgresql(
    pg_fresh_url, open_depot, add_partners, make_order, monkeypatch
) -> None:
    """The lean path's change-sequence bump carries the NOTIFY: a console waiting on the
    notifications alone (its safety-net read put off for an hour) is woken by a trash."""
    monkeypatch.setattr(listen, "SAFETY_POLL", 3600.0)
    a, watcher = open_depot(pg_fresh_url, "a"), open_depot(pg_fresh_url, "w")
    add_partners(a)
    n = make_order(a, source="Plain Client")
    seq = watcher.db.change_seq()
    assert watcher.db.wait_for_change(seq, 0.0) == seq  # listening, first read done
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(watcher.db.wait_for_change, seq, 30.0, stop=threading.Event())
    pool.shutdown(wait=False)
    assert Trash(n).lean()
    Trash(n).execute(a)
    assert fut.result(timeout=30.0) == a.db.change_seq() == seq + 1
    assert watcher.db.changes.woken_by == "notify"


# --------------------------------------------------------------------------- the rules


def _rule(depot, name: str, when: str, *do: str) -> None:
    SaveRule(RuleInput(name, parse_trigger(when), (), tuple(parse_effect(e) for e in do))).execute(depot)


@pytest.fixture
def orm_taken(monkeypatch) -> list[str]:
    """The actions that gave up the lean path for the ORM (a rule may fire on them)."""
    taken: list[str] = []
    real = UnitOfWork.leave_lean

    def spy(self: UnitOfWork) -> None:
        taken.append("orm")
        real(self)

    monkeypatch.setattr(UnitOfWork, "leave_lean", spy)
    return taken


def test_rules_that_cannot_fire_leave_the_action_lean(depot, partners, new_order, rows, orm_taken) -> None:
    _rule(depot, "Tag the delivered", "enters Delivered", "add-tag done")
    first, second = new_order(source="Plain Client"), new_order(source="Plain Client")
    Trash(first).execute(depot)  # the rules are parsed once (by this, or by the save)
    orm_taken.clear()
    r = Trash(second).execute(depot)
    assert orm_taken == []  # a rule is on, but none waits for Rejected: lean
    assert "Rules that fired" not in r.message
    assert rows(depot, second).order.tags == [] and rows(depot, second).order.status == "rejected"


def test_a_rule_whose_condition_fails_leaves_the_action_lean_and_one_that_holds_does_not(
    depot, partners, new_order, rows, orm_taken
) -> None:
    """A rule waits for Rejected but only on frozen orders: the lean path reads the tags and
    tries the condition; a plain order stays lean, a frozen one gets the rule's effect."""
    SaveRule(RuleInput("Frozen trashed", parse_trigger("enters Rejected"), (parse_condition("has-tag frozen"),),
                       (parse_effect("add-tag check-freezer"),))).execute(depot)
    Trash(new_order(source="Plain Client")).execute(depot)  # the rules parsed
    plain, frozen = new_order(source="Plain Client"), new_order(source="Plain Client", tags=["frozen"])
    orm_taken.clear()
    Trash(plain).execute(depot)
    assert orm_taken == [] and rows(depot, plain).order.tags == []
    r = Trash(frozen).execute(depot)
    assert orm_taken == ["orm"] and "Frozen trashed" in r.message
    assert [t.name for t in rows(depot, frozen).order.tags] == ["check-freezer", "frozen"]


def test_a_rule_that_fires_is_committed_as_the_confirm_showed_and_undone_with_the_action(
    depot, partners, new_order, rows, orm_taken
) -> None:
    _rule(depot, "Tag the trashed", "enters Rejected", "add-tag trashed", "follow-up Ring the client")
    warm = new_order(source="Plain Client")
    Trash(warm).execute(depot)
    n = new_order(source="Plain Client")
    pv = Trash(n).preview(depot)
    assert [r.rule for r in pv.rules] == ["Tag the trashed"]
    assert pv.rules[0].effects == ("The tag trashed is added.", "A follow-up is created: Ring the client")
    orm_taken.clear()
    r = Trash(n, expected_version=pv.version).execute(depot)
    assert orm_taken == ["orm"]  # the rule fires: the action went through the ORM
    assert "Rules that fired" in r.message and "Tag the trashed" in r.message
    x = rows(depot, n)
    assert x.order.status == "rejected" and [t.name for t in x.order.tags] == ["trashed"]
    assert [f.text for f in x.followups if f.id in r.followups] == ["Ring the client"]
    Undo(n).execute(depot)
    x = rows(depot, n)
    assert x.order.status == "created" and x.order.tags == []
    assert all(f.withdrawn for f in x.followups if f.id in r.followups)


def test_a_rule_saved_in_another_console_fires_on_the_next_lean_action(
    depot, partners, new_order, rows, open_depot, db_path, orm_taken
) -> None:
    """The rules this console parsed are kept while the depot's rules_seq (read with the order)
    stays the same: a rule another console saves moves it, and the next trash sees the rule."""
    _rule(depot, "Tag the delivered", "enters Delivered", "add-tag done")
    Trash(new_order(source="Plain Client")).execute(depot)
    n = new_order(source="Plain Client")
    _rule(open_depot(db_path, actor="anna"), "Tag the trashed", "enters Rejected", "add-tag trashed")
    orm_taken.clear()
    r = Trash(n).execute(depot)
    assert orm_taken == ["orm"] and "Tag the trashed" in r.message
    assert [t.name for t in rows(depot, n).order.tags] == ["trashed"]
