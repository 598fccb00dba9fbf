"""Issue 14 across two linked depots: an order Alpha sends arrives at Bravo over the link and
fires Bravo's rules there, in the same transaction as its reception."""

from __future__ import annotations

from linkkit import eventually, link, make_order, notice_states, order_row
from sqlalchemy import select

from dispatchdesk.services import (
    PartnerInput,
    RuleInput,
    SaveRule,
    add_partner,
    dispatch,
    parse_condition,
    parse_effect,
    parse_trigger,
)
from dispatchdesk.store.models import AuditEntry, FollowUp, Order


async def test_an_order_arriving_over_the_link_fires_the_receivers_rules(make_side):
    a = await make_side("Alpha")
    b = await make_side("Bravo")
    link(a, b, a_sees_b=dict(role="subcontractor"), b_sees_a=dict(role="client"))
    add_partner(b.depot, PartnerInput(name="Van Man", role="subcontractor", cancel_method="manual"))
    SaveRule(RuleInput(
        "Alpha loads to the van", parse_trigger("arrives-from Alpha"),
        (parse_condition("direction inbound"),),
        (parse_effect("add-tag from-alpha"), parse_effect("send Van Man"), parse_effect("follow-up Check the load")),
    )).execute(b.depot)
    # a rule on Alpha's side that must not fire: Alpha's order does not arrive, it is sent
    SaveRule(RuleInput("Alpha arrivals", parse_trigger("arrives-from client"), (),
                       (parse_effect("add-tag arrived"),))).execute(a.depot)

    number = make_order(a.depot)
    dispatch(a.depot, number, "Bravo")
    row = await eventually(lambda: order_row(b.depot, partner_ref=number), what="Bravo to receive the order")

    with b.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).where(Order.number == row.number)).unique().one()
        assert [t.name for t in o.tags] == ["from-alpha"]
        assert (o.status, o.assignee.name if o.assignee else None) == ("dispatched", "Van Man")
        audit = uow.session.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id)
                                    .order_by(AuditEntry.id)).all()
        assert [e.action for e in audit] == ["received", "rule", "rule", "rule"]
        assert {e.actor for e in audit} == {"partner:Alpha"}
        assert all("Rule 'Alpha loads to the van' (version 1), on it arrives from Alpha" in e.detail
                   for e in audit[1:])
        texts = uow.session.scalars(select(FollowUp.text).where(FollowUp.order_id == o.id)).all()
        assert "Check the load" in texts
    assert ("order.new", "Van Man", "follow-up") in notice_states(b.depot, row.number)
    with a.depot.uow(write=False) as uow:
        tags = uow.session.scalars(select(Order).where(Order.number == number)).unique().one().tags
        assert tags == []
