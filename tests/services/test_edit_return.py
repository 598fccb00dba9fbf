"""Issue 8 items 5 and 6: Edit before picking (SPEC 4.10) and Register return (SPEC 4.11)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dispatchdesk.domain import CancellationRequest, ReasonCode, ReturnReason, Status
from dispatchdesk.services import (
    Cancel,
    EditOrder,
    InvalidInput,
    LineEdit,
    Refused,
    RegisterReturn,
    Send,
    SetStatus,
    Trash,
)
from dispatchdesk.store.models import Order, Return


def _progress(depot, number, *to: Status) -> None:
    for st in to:
        SetStatus(number, status=st).execute(depot)


# --------------------------------------------------------------------------- edit


def test_the_edit_confirm_lists_old_and_new_and_who_is_told(depot, partners, new_order) -> None:
    n = new_order(source="Plain Client")
    Send(n, partner="Swift Haulage").execute(depot)
    pv = EditOrder(
        n,
        delivery_address="9 Low Street, York",
        parcels=4,
        lines=(LineEdit("BOX-S", 3), LineEdit("PALLET", 0), LineEdit("CRATE", 1, "A crate")),
    ).preview(depot)
    assert pv.allowed, pv.refusals
    assert pv.title == f"Save the changes to order {n}?"
    assert pv.yes == "Save the changes"
    assert pv.lines[0] == f"Order {n} stays Dispatched."
    assert "Delivery address: 22 High Street, York → 9 Low Street, York." in pv.lines
    assert "Parcels: 3 → 4." in pv.lines
    assert "Line BOX-S: 2 → 3." in pv.lines
    assert "Line PALLET: 1 → removed." in pv.lines
    assert "Line CRATE: none → 1." in pv.lines
    assert "Swift Haulage will be told over the link (change)." in pv.lines
    assert pv.final and pv.focus_note == "No has the focus: this cannot be undone."


def test_an_edit_tells_the_subcontractor_and_the_audit_keeps_old_and_new(
    depot, partners, new_order, rows
) -> None:
    n = new_order(source="Plain Client")
    Send(n, partner="Swift Haulage").execute(depot)
    version = rows(depot, n).order.version
    r = EditOrder(n, parcels=5, weight_kg=20.0, lines=(LineEdit("BOX-S", 4),),
                  expected_version=version).execute(depot)
    assert r.message.startswith(f"Order {n} was corrected; it stays Dispatched.")
    got = rows(depot, n)
    assert got.order.parcels == 5 and got.order.weight_kg == 20.0
    assert {ln.article: ln.quantity for ln in got.order.lines} == {"BOX-S": 4, "PALLET": 1}
    assert got.order.status == "dispatched"
    changed = got.notices_to("Swift Haulage")[-1]
    assert changed.kind == "order.changed" and changed.state == "queued"
    assert changed.payload["parcels"] == 5
    assert {"field": "parcels", "label": "Parcels", "old": "3", "new": "5"} in changed.payload["changes"]
    assert {"article": "BOX-S", "description": "BOX-S description", "quantity": 4} in changed.payload["lines"]
    entry = got.last
    assert entry.action == "edit"
    assert "Parcels: 3 → 5." in entry.detail and "Weight: 12.5 kg → 20 kg." in entry.detail
    assert entry.before["edited"]["Line BOX-S"] == ["2", "4"]
    # the client that sent it is not the one who has it: not told
    assert not got.notices_to("Plain Client")


def test_an_edit_where_the_link_cannot_carry_it_is_a_follow_up(depot, partners, new_order, rows) -> None:
    n = new_order()
    Send(n, partner="Van Man").execute(depot)
    EditOrder(n, pickup_address="2 Depot Road, Leeds").execute(depot)
    got = rows(depot, n)
    assert got.notices_to("Van Man")[-1].state == "follow-up"
    assert got.followups[-1].text == f"Tell Van Man by hand: the change of order {n}."


def test_an_edit_of_a_created_order_tells_nobody(depot, partners, new_order, rows) -> None:
    n = new_order(source="Plain Client")
    pv = EditOrder(n, pickup_after=datetime(2025, 3, 15, 10, 0, tzinfo=UTC)).preview(depot)
    assert "Pickup after: none → 2025-03-15 10:00 UTC." in pv.lines
    assert "Nobody outside the depot will be told." in pv.lines
    EditOrder(n, pickup_after=datetime(2025, 3, 15, 10, 0, tzinfo=UTC)).execute(depot)
    assert rows(depot, n).notices == []


@pytest.mark.parametrize("status", [Status.PICKED_UP, Status.DELIVERED])
def test_an_edit_is_refused_once_picked_up_and_offers_a_return(
    depot, partners, new_order, rows, status
) -> None:
    n = new_order(source="Plain Client")
    steps = [Status.ACCEPTED, Status.PICKED_UP] + ([Status.DELIVERED] if status is Status.DELIVERED else [])
    _progress(depot, n, *steps)
    before = rows(depot, n)
    pv = EditOrder(n, parcels=9).preview(depot)
    assert pv.refusals == (
        f"Order {n} is {status.label}: the goods have left, so it can no longer be edited. "
        "Handle it as a return.",
    )
    assert pv.offers == ("return",)
    with pytest.raises(Refused):
        EditOrder(n, parcels=9).execute(depot)
    after = rows(depot, n)
    assert after.order.parcels == 3 and after.order.version == before.order.version
    assert len(after.audit) == len(before.audit)


def test_nothing_changed_and_bad_values_are_refused(depot, partners, new_order, rows) -> None:
    n = new_order()
    assert EditOrder(n, parcels=3).preview(depot).refusals == (f"Nothing was changed on order {n}.",)
    with pytest.raises(InvalidInput) as e:
        EditOrder(n, parcels=0).execute(depot)
    assert e.value.field == "parcels"
    with pytest.raises(InvalidInput) as e:
        EditOrder(n, delivery_address="  ").execute(depot)
    assert e.value.field == "delivery_address" and str(e.value) == "The delivery address is empty."
    with pytest.raises(InvalidInput) as e:
        EditOrder(n, lines=(LineEdit("BOX-S", 0), LineEdit("PALLET", 0))).execute(depot)
    assert "no lines left" in str(e.value)
    assert rows(depot, n).order.version == 1


def test_a_line_cannot_go_below_what_is_cancelled(depot, partners, new_order) -> None:
    n = new_order()
    Cancel(n, request=CancellationRequest(ReasonCode.DAMAGED, lines={"BOX-S": 1})).execute(depot)
    with pytest.raises(InvalidInput, match="already cancelled"):
        EditOrder(n, lines=(LineEdit("BOX-S", 0),)).execute(depot)


# --------------------------------------------------------------------------- returns


def test_a_return_records_lines_and_tells_the_client_without_changing_the_status(
    depot, partners, new_order, rows
) -> None:
    n = new_order(source="Plain Client")
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP, Status.DELIVERED)
    before = rows(depot, n)
    action = RegisterReturn(n, lines={"BOX-S": 1}, reason_code=ReturnReason.DAMAGED,
                            comment="Crushed corner", return_number="RT-9")
    pv = action.preview(depot)
    assert pv.title == f"Register a return on order {n}?" and pv.yes == "Register the return"
    assert pv.lines[0] == f"Order {n} stays Delivered."
    assert "Return number: RT-9." in pv.lines and "Reason: DAMAGED." in pv.lines
    assert "Coming back: BOX-S × 1." in pv.lines
    assert "Plain Client will be told over the link (return)." in pv.lines
    r = action.execute(depot)
    assert r.message == (
        f"Return RT-9 registered on order {n} (BOX-S × 1); it stays Delivered. "
        "Plain Client will be told."
    )
    got = rows(depot, n)
    assert got.order.status == "delivered" and got.order.status_changed_at == before.order.status_changed_at
    notice = got.notices_to("Plain Client")[-1]
    assert notice.kind == "order.return"
    assert notice.payload["return"] == "RT-9" and notice.payload["lines"] == {"BOX-S": 1}
    assert notice.payload["reason"] == "DAMAGED" and notice.payload["comment"] == "Crushed corner"
    assert got.last.action == "return" and got.last.detail.startswith("Return RT-9 (DAMAGED): BOX-S × 1.")
    with depot.uow(write=False) as uow:
        ret = uow.session.scalars(select(Return)).one()
        assert (ret.number, ret.reason, ret.lines) == ("RT-9", "DAMAGED", {"BOX-S": 1})
    # the number is taken now; and only what is left can come back
    again = RegisterReturn(n, lines={"BOX-S": 2}, reason_code=ReturnReason.DAMAGED, return_number="RT-9")
    assert set(again.preview(depot).refusals) == {
        f"Only 1 of 'BOX-S' can still come back on order {n}; 2 cannot.",
        "Return number 'RT-9' is already used; choose another.",
    }


def test_a_return_by_default_takes_everything_and_numbers_itself(depot, partners, new_order, rows) -> None:
    n = new_order()
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP)
    r = RegisterReturn(n, reason_code=ReturnReason.NOT_WANTED).execute(depot)
    assert r.message.startswith(f"Return RT-000001 registered on order {n} (BOX-S × 2, PALLET × 1)")
    assert rows(depot, n).order.status == "picked_up"


def test_a_return_is_refused_before_pickup_and_needs_a_reason(depot, partners, new_order) -> None:
    n = new_order(source="Plain Client")
    pv = RegisterReturn(n, reason_code=ReturnReason.DAMAGED).preview(depot)
    assert pv.refusals == (
        f"Order {n} is Created: only a Picked up or Delivered order can have a return; "
        "cancel it instead.",
    )
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP)
    assert RegisterReturn(n).preview(depot).refusals == ("Choose the reason for the return.",)
    assert RegisterReturn(n, reason_code=ReturnReason.OTHER).preview(depot).refusals == (
        "Reason OTHER needs a comment that says what the reason is.",
    )


def test_too_late_refusals_offer_the_return(depot, partners, new_order) -> None:
    n = new_order(source="Plain Client")
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP)
    for action in (Trash(n), Cancel(n), SetStatus(n, status=Status.CREATED)):
        pv = action.preview(depot)
        assert not pv.allowed and pv.offers == ("return",), type(action).__name__
    m = new_order(source="Plain Client")
    assert SetStatus(m, status=Status.DELIVERED).preview(depot).offers == ()
    with depot.uow(write=False) as uow:
        assert uow.session.scalars(select(Order.status).where(Order.number == n)).one() == "picked_up"


# --------------------------------------------------------------------------- over the link


def test_a_partners_change_after_pickup_is_refused_and_nothing_changes(depot, partners, new_order, rows) -> None:
    from dispatchdesk.services import receive

    n = new_order(source="Plain Client", ref="PC-7")
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP)
    before = rows(depot, n)
    r = receive(depot, "Plain Client", {"id": "m-1", "kind": "order.changed", "order": "PC-7", "parcels": 9})
    assert r.text.startswith(f"Order {n} is Picked up: the goods have left")
    got = rows(depot, n)
    assert got.order.parcels == 3 and got.order.status == "picked_up"
    answer = got.notices_to("Plain Client")[-1]
    assert answer.kind == "notice.answer" and answer.payload["outcome"] == "refused"
    assert got.followups[-1].text.startswith("Plain Client changed order")
    assert len(got.audit) == len(before.audit) + 1


def test_a_partners_change_is_applied_and_passed_on(depot, partners, new_order, rows) -> None:
    from dispatchdesk.services import receive

    n = new_order(source="Plain Client", ref="PC-8")
    Send(n, partner="Swift Haulage").execute(depot)
    receive(depot, "Plain Client", {
        "id": "m-2", "kind": "order.changed", "order": "PC-8", "parcels": 6,
        "lines": [{"article": "BOX-S", "quantity": 4}],
    })
    got = rows(depot, n)
    assert got.order.parcels == 6
    assert {ln.article: ln.quantity for ln in got.order.lines} == {"BOX-S": 4}
    assert got.last.action == "partner changed" and got.last.actor == "partner:Plain Client"
    passed_on = got.notices_to("Swift Haulage")[-1]
    assert passed_on.kind == "order.changed" and passed_on.payload["parcels"] == 6
    assert got.notices_to("Plain Client")[-1].payload["outcome"] == "accepted"


def test_a_malformed_change_stores_nothing(depot, partners, new_order, counts) -> None:
    from dispatchdesk.services import receive

    new_order(source="Plain Client", ref="PC-9")
    before = counts(depot)
    with pytest.raises(InvalidInput):
        receive(depot, "Plain Client", {"id": "m-3", "kind": "order.changed", "order": "PC-9", "parcels": 0})
    with pytest.raises(InvalidInput, match="no lines left"):
        receive(depot, "Plain Client", {"id": "m-4", "kind": "order.changed", "order": "PC-9", "lines": []})
    assert counts(depot) == before


def test_returns_are_exported_the_same_by_both_json_paths(depot, partners, new_order, tmp_path) -> None:
    import json

    from dispatchdesk.services import receive
    from dispatchdesk.services.export import export_json
    from dispatchdesk.services.export.json import export_json_file

    n = new_order(source="Plain Client")
    _progress(depot, n, Status.ACCEPTED, Status.PICKED_UP)
    RegisterReturn(n, lines={"BOX-S": 1}, reason_code=ReturnReason.LATE, comment="é\u202e").execute(depot)
    m = new_order()
    Send(m, partner="Swift Haulage").execute(depot)
    receive(depot, "Swift Haulage", {"id": "r-1", "kind": "order.return", "order": "S-1", "your_ref": m,
                                     "return": "SW-RT-1", "lines": {"PALLET": 1}, "reason": "DAMAGED"})
    path = tmp_path / "fast.json"
    export_json_file(depot, path)
    written = json.loads(path.read_text(encoding="utf-8"))
    expected = export_json(depot)
    assert written["orders"] == expected["orders"]
    by_number = {o["number"]: o for o in expected["orders"]}
    assert [r["number"] for r in by_number[n]["returns"]] == ["RT-000001"]
    (theirs,) = by_number[m]["returns"]
    assert (theirs["number"], theirs["reported_by"], theirs["lines"]) == ("SW-RT-1", "Swift Haulage", {"PALLET": 1})


def test_the_change_by_e_mail_lists_old_and_new(depot, partners, new_order, rows) -> None:
    from dispatchdesk.link.transports import SmtpSettings, email_message
    from dispatchdesk.services.outbox import ClaimedNotice

    n = new_order()
    Send(n, partner="Boxed Fulfilment").execute(depot)
    EditOrder(n, parcels=4).execute(depot)
    notice = rows(depot, n).notices_to("Boxed Fulfilment")[-1]
    assert (notice.kind, notice.transport) == ("order.changed", "email")
    claimed = ClaimedNotice(
        id=notice.id, kind=notice.kind, payload=notice.payload, transport=notice.transport, attempts=0,
        seq=notice.seq, order=n, partner="Boxed Fulfilment", partner_url=None, partner_secret=None,
        partner_email="ops@boxed.example", created_at=notice.created_at, lease_until=notice.created_at,
    )
    body = email_message(claimed, SmtpSettings(None, 25, None, "Our depot")).get_content()
    assert "Our depot sends you a change." in body
    assert "Changed:\n  Parcels: 3 → 4\n" in body
    assert f"Our order number: {n}" in body
    assert rows(depot, n).followups[-1].text == f"Confirm with Boxed Fulfilment that the change of order {n} arrived."
