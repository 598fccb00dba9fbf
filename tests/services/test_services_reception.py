"""Order reception's services (issue 8 items 1-3, issue 9 item 7): the reason code a trash or
reject carries (the partner's default, or the one chosen), the four checks of SPEC 4.5 one by
one, Accept and Delete, and the reception list's filters. Read back from the database."""

from __future__ import annotations

import pytest

from dispatchdesk.domain import Status
from dispatchdesk.services import (
    Accept,
    Delete,
    InvalidInput,
    ReasonCode,
    Reject,
    Trash,
    partner_input,
    queries,
    set_status,
    undo,
    update_partner,
)
from dispatchdesk.services.queries import NEEDS_DECISION, ReceptionFilter

pytestmark = pytest.mark.usefixtures("partners")


def _default(depot, partner: str, code: str | None) -> None:
    from dataclasses import replace

    update_partner(depot, partner, replace(partner_input(depot, partner), reject_reason=code))


def test_trash_carries_the_partners_default_reason_code(rows, depot, new_order):
    _default(depot, "Plain Client", "invalid-address")
    n = new_order(source="Plain Client")
    pv = Trash(n).preview(depot)
    assert "Reason code: INVALID_ADDRESS (Plain Client's default)." in pv.lines
    Trash(n).execute(depot)
    x = rows(depot, n)
    assert x.order.status == "rejected" and x.order.reject_reason == "INVALID_ADDRESS"
    assert x.last.reason == "INVALID_ADDRESS" and "Reason code INVALID_ADDRESS" in x.last.detail
    [m] = x.notices
    assert m.payload["reason"] == "INVALID_ADDRESS"
    assert queries.order_detail(depot, n).reject_reason == "INVALID_ADDRESS"
    # reported per partner and reason, not as "-"
    report = queries.report(depot)["rejections_and_cancellations"]
    assert {"status": "Rejected", "partner": "Plain Client", "reason": "INVALID_ADDRESS", "orders": 1} in report


def test_a_chosen_reason_code_wins_and_undo_takes_it_back(rows, depot, new_order):
    _default(depot, "Plain Client", "DAMAGED")
    n = new_order(source="Plain Client")
    r = Reject(n, code=ReasonCode.NOT_IN_STOCK, notify_buyer=True, message="Sold out").execute(depot)
    x = rows(depot, n)
    assert x.order.reject_reason == "NOT_IN_STOCK" and x.last.reason == "NOT_IN_STOCK"
    assert x.notices[0].payload["reason"] == "NOT_IN_STOCK"
    assert x.notices[0].payload["message"] == "Sold out"
    assert r.undo_until is not None
    undo(depot, n)
    x = rows(depot, n)
    assert x.order.status == "created" and x.order.reject_reason is None


def test_no_default_no_code(rows, depot, new_order):
    n = new_order(source="Plain Client")
    assert "Reason code: none given." in Trash(n).preview(depot).lines
    Trash(n).execute(depot)
    assert rows(depot, n).order.reject_reason is None


def test_a_partners_default_reason_code_is_checked(depot):
    with pytest.raises(InvalidInput) as e:
        _default(depot, "Plain Client", "BORED")
    assert e.value.field == "reject_reason" and "BORED" in str(e.value)
    assert partner_input(depot, "Plain Client").reject_reason is None
    # editing the partner without naming the code keeps it
    _default(depot, "Plain Client", "OTHER")
    assert [p.reject_reason for p in queries.partners(depot) if p.name == "Plain Client"] == ["OTHER"]


def test_the_four_checks_each_passed_or_failed(depot, new_order):
    ok = new_order(source="Plain Client")
    ctx = queries.reject_context(depot, ok)
    assert ctx.allowed and ctx.buyer == "Plain Client"
    assert [c.passed for c in ctx.checks] == [True, True, True, True]
    bad = new_order(source="Plain Client", documents=[("invoice", "INV-1")], backorders=[("BOX-S", 1)])
    ctx = queries.reject_context(depot, bad)
    assert [c.passed for c in ctx.checks] == [True, True, False, False]
    assert ctx.checks[2].refusal == f"Order {bad} is referenced by an invoice."
    assert not ctx.allowed
    moved = new_order()
    for st in (Status.ACCEPTED, Status.PICKED_UP):
        set_status(depot, moved, st)
    assert [c.passed for c in queries.reject_context(depot, moved).checks] == [True, False, True, True]
    Trash(ok).execute(depot)
    assert [c.passed for c in queries.reject_context(depot, ok).checks] == [False, True, True, True]


def test_accept_and_delete(rows, depot, new_order):
    n = new_order(source="Corner Bakery")
    pv = Accept(n).preview(depot)
    assert pv.title == f"Accept order {n}?" and pv.yes == "Accept"
    Accept(n).execute(depot)
    assert rows(depot, n).order.status == "accepted"
    m = new_order(source="Plain Client")
    pv = Delete(m).preview(depot)
    assert pv.title == f"Delete order {m}?" and pv.yes == "Delete" and pv.final
    Delete(m).execute(depot)
    x = rows(depot, m)
    assert x.order.status == "rejected" and x.notices[0].kind == "order.rejected"
    acts = queries.order_actions(depot, m)
    assert acts.accept and acts.refuse_request


def test_reception_lists_newest_first_and_filters(depot, new_order):
    a = new_order(source="Plain Client", ref="PC-1")
    b = new_order(source="Corner Bakery", ref="CB-7")
    c = new_order()
    set_status(depot, c, Status.ACCEPTED)
    rows = queries.reception_rows(depot, queries.reception_ids(depot))
    assert [r.card.number for r in rows] == [c, b, a]
    assert rows[1].partner_ref == "CB-7" and rows[1].card.source == "Corner Bakery"

    def numbers(**kw):
        return [r.card.number for r in queries.reception_rows(depot, queries.reception_ids(depot, ReceptionFilter(**kw)))]

    assert numbers(text="cb-7") == [b]
    assert numbers(text="york plain") == [a]
    assert numbers(partner="Corner Bakery") == [b]
    assert numbers(quick=NEEDS_DECISION) == [b, a]  # c is accepted: nothing to decide
    assert numbers(text="100%_") == []
    assert "Plain Client" in queries.source_names(depot)


def test_reception_pages_count_and_the_index_match(depot, new_order):
    made = [new_order(source="Plain Client", ref=f"PG-{i}") for i in range(5)]
    page = queries.reception_page(depot, ReceptionFilter(), 2, 2)
    assert page.total == 5 and [r.card.number for r in page.rows] == [made[2], made[1]]
    page = queries.reception_page(depot, ReceptionFilter(quick=NEEDS_DECISION, partner="Plain Client"), 4, 2)
    assert page.total == 5 and [r.card.number for r in page.rows] == [made[0]]
    page = queries.reception_page(depot, ReceptionFilter(text="pg-3"), 0, 100)
    assert page.total == 1 and page.rows[0].card.number == made[3] and not page.more
    assert [page.rows[0].card.id] == queries.reception_ids(depot, ReceptionFilter(text="pg-3"))
