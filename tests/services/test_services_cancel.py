"""Create a cancellation (SPEC 4.4) and reject with checks (SPEC 4.5), read back from the
database: the order, its lines, the cancellation row, the notices and the follow-ups."""

from __future__ import annotations

import pytest

from dispatchdesk.domain import Status
from dispatchdesk.services import (
    Cancel,
    CancellationRequest,
    InvalidInput,
    ReasonCode,
    Refused,
    Reject,
    cancel,
    dispatch,
    receive,
    reject,
    set_status,
    trash,
)

pytestmark = pytest.mark.usefixtures("partners")


def req(reason=ReasonCode.DAMAGED, **kw) -> CancellationRequest:
    return CancellationRequest(reason, **kw)


# --------------------------------------------------------------------------- full and partial


def test_full_cancellation_writes_the_cancellation_and_holds_the_notice(rows, depot, new_order):
    n = new_order(source="Plain Client", ref="PC-42")
    r = cancel(
        depot,
        n,
        req(ReasonCode.DAMAGED, comment="Crushed in the yard", internal_note="forklift 3 again"),
    )

    x = rows(depot, n)
    assert x.order.status == "cancelled"
    assert [(ln.article, ln.cancelled) for ln in x.order.lines] == [("BOX-S", 2), ("PALLET", 1)]
    [c] = x.cancellations
    assert c.number == "CN-000001"
    assert (c.reason, c.comment, c.internal_note) == (
        "DAMAGED",
        "Crushed in the yard",
        "forklift 3 again",
    )
    assert c.lines == {"BOX-S": 2, "PALLET": 1}
    assert (c.partial, c.state, c.actor) == (False, "done", "tester")
    [m] = x.notices
    assert (m.partner.name, m.kind, m.transport, m.state) == (
        "Plain Client",
        "order.cancellation",
        "http",
        "held",
    )
    assert m.payload == {
        "order": n,
        "status": "cancelled",
        "your_ref": "PC-42",
        "reason": "DAMAGED",
        "comment": "Crushed in the yard",
        "lines": {"BOX-S": 2, "PALLET": 1},
        "partial": False,
        "cancellation": "CN-000001",
    }
    assert "forklift" not in str(m.payload)  # the internal note never leaves the depot
    assert x.last.action == "cancel" and x.last.actor == "tester"
    assert (x.last.from_status, x.last.to_status, x.last.reason) == (
        "created",
        "cancelled",
        "DAMAGED",
    )
    assert x.last.detail.startswith("Cancellation CN-000001. ")
    assert x.last.notices == [m.id] == list(r.notices)
    assert r.undo_until == m.release_at


def test_partial_cancellation_leaves_the_order_open_with_the_rest(rows, depot, new_order):
    n = new_order(source="Plain Client", lines={"A": 5, "B": 2})
    p = Cancel(n, request=req(lines={"A": 3})).preview(depot)
    assert "This is a partial cancellation: the order stays open with the rest." in p.lines

    cancel(depot, n, req(lines={"A": 3}), expected_version=p.version)

    x = rows(depot, n)
    assert x.order.status == "created"
    assert [(ln.article, ln.quantity, ln.cancelled) for ln in x.order.lines] == [
        ("A", 5, 3),
        ("B", 2, 0),
    ]
    [c] = x.cancellations
    assert (c.number, c.lines, c.partial, c.state) == ("CN-000001", {"A": 3}, True, "done")
    [m] = x.notices
    assert m.payload["lines"] == {"A": 3} and m.payload["partial"] is True
    assert m.payload["status"] == "created"
    assert (x.last.from_status, x.last.to_status) == ("created", "created")

    # the rest: a second cancellation with the next number closes the order
    cancel(depot, n, req())
    x = rows(depot, n)
    assert x.order.status == "cancelled"
    assert [(ln.article, ln.cancelled) for ln in x.order.lines] == [("A", 5), ("B", 2)]
    assert [(c.number, c.lines, c.partial) for c in x.cancellations] == [
        ("CN-000001", {"A": 3}, True),
        ("CN-000002", {"A": 2, "B": 2}, False),
    ]
    assert [m.seq for m in x.notices] == [1, 2]


@pytest.mark.parametrize(
    "lines, why",
    [
        ({"NOPE": 1}, "has no line with article 'NOPE'"),
        ({"A": 6}, "Only 5 of 'A' are open"),
        ({"A": -1}, "cannot be negative"),
        ({"A": 0}, "Choose at least one line"),
    ],
)
def test_bad_quantities_refused_and_nothing_written(counts, depot, new_order, lines, why):
    n = new_order(source="Plain Client", lines={"A": 5})
    c = counts(depot)
    with pytest.raises(Refused, match=why):
        cancel(depot, n, req(lines=lines))
    assert counts(depot) == c


# --------------------------------------------------------------------------- the number


def test_given_cancellation_number_is_kept(rows, depot, new_order):
    n = new_order(source="Plain Client")
    cancel(depot, n, req(number="  SHOP-CN-7 "))
    x = rows(depot, n)
    assert x.cancellations[0].number == "SHOP-CN-7"
    assert x.notices[0].payload["cancellation"] == "SHOP-CN-7"


def test_reused_cancellation_number_refused_with_nothing_written(rows, counts, depot, new_order):
    a = new_order(source="Plain Client")
    b = new_order(source="Plain Client")
    cancel(depot, a, req(number="CN-X1"))
    before = rows(depot, b)
    c = counts(depot)
    p = Cancel(b, request=req(number="CN-X1")).preview(depot)
    assert not p.allowed
    assert "Refused: Cancellation number 'CN-X1' is already used; choose another." in p.lines

    with pytest.raises(
        Refused, match="Cancellation number 'CN-X1' is already used; choose another."
    ):
        cancel(depot, b, req(number="CN-X1"))

    assert counts(depot) == c
    after = rows(depot, b)
    assert after.order.status == "created" and after.order.version == before.order.version
    assert after.cancellations == [] and after.notices == []


def test_automatic_numbers_skip_a_number_given_by_hand(rows, depot, new_order):
    a, b = new_order(source="Plain Client"), new_order(source="Plain Client")
    cancel(depot, a, req(number="CN-000001"))
    cancel(depot, b, req())
    assert rows(depot, b).cancellations[0].number == "CN-000002"


# --------------------------------------------------------------------------- reasons


def test_other_needs_a_comment(rows, counts, depot, new_order):
    n = new_order(source="Plain Client")
    c = counts(depot)
    with pytest.raises(InvalidInput, match="Reason OTHER needs a comment"):
        cancel(depot, n, req(ReasonCode.OTHER, comment="   "))
    assert counts(depot) == c
    cancel(depot, n, req(ReasonCode.OTHER, comment="customer moved"))
    assert rows(depot, n).cancellations[0].reason == "OTHER"


def test_partner_that_requires_a_reason_refuses_none(rows, counts, depot, new_order):
    n = new_order(source="Shopfront")
    c = counts(depot)
    with pytest.raises(Refused, match="Shopfront requires a reason code for every cancellation."):
        cancel(depot, n, req(None))
    assert counts(depot) == c
    cancel(depot, n, req(ReasonCode.NOT_IN_STOCK))
    assert rows(depot, n).order.status == "cancelled"


def test_no_reason_is_fine_for_a_partner_that_does_not_require_one(rows, depot, new_order):
    n = new_order(source="Plain Client")
    cancel(depot, n, req(None))
    x = rows(depot, n)
    assert x.cancellations[0].reason is None and x.notices[0].payload["reason"] is None


# --------------------------------------------------------------------------- cancel methods


def test_api_window_inside_the_window_goes_over_the_link(rows, depot, clock, new_order):
    n = new_order(source="Shopfront")
    clock.advance(1799)
    cancel(depot, n, req())
    x = rows(depot, n)
    [m] = x.notices
    assert (m.partner.name, m.transport, m.state) == ("Shopfront", "http", "held")
    assert x.followups == []


def test_api_window_outside_the_window_is_a_follow_up(rows, depot, clock, new_order):
    n = new_order(source="Shopfront")
    clock.advance(1801)
    p = Cancel(n, request=req()).preview(depot)
    assert any("Shopfront will NOT be told automatically" in line for line in p.lines)

    cancel(depot, n, req())

    x = rows(depot, n)
    assert x.order.status == "cancelled"
    [m] = x.notices
    assert (m.transport, m.state, m.next_attempt_at) == ("manual", "follow-up", None)
    [f] = x.followups
    assert f.partner.name == "Shopfront" and f.notice_id == m.id
    assert f.text == (
        f"Shopfront's 30-minute cancellation window has passed: cancel order {n} with Shopfront by hand."
    )
    assert x.last.followups == [f.id]


def test_email_method_sends_an_email_and_asks_to_confirm(rows, depot, new_order):
    n = new_order()
    dispatch(depot, n, "Boxed Fulfilment")
    cancel(depot, n, req(ReasonCode.CLIENT_CANCELLED))
    x = rows(depot, n)
    assert x.order.status == "cancelled"  # an e-mail warehouse cannot answer: done at once
    m = x.notices[-1]
    assert (m.partner.name, m.kind, m.transport, m.state) == (
        "Boxed Fulfilment",
        "order.cancellation",
        "email",
        "held",
    )
    assert m.awaits_answer is False
    [f] = x.followups[-1:]
    assert f.text == f"Confirm with Boxed Fulfilment that the cancellation of order {n} arrived."
    assert f.notice_id == m.id
    assert x.cancellations[0].state == "done"


def test_manual_partner_gets_a_follow_up_only(rows, depot, new_order):
    n = new_order(source="Corner Bakery")
    cancel(depot, n, req())
    x = rows(depot, n)
    [m] = x.notices
    assert (m.transport, m.state) == ("manual", "follow-up")
    [f] = x.followups
    assert f.text == f"Tell Corner Bakery by hand: the cancellation of order {n}."


def test_follow_up_after_send_partner_is_checked_on(rows, depot, new_order):
    from dispatchdesk.services import PartnerInput, add_partner

    add_partner(
        depot,
        PartnerInput(
            "Careful Client",
            "client",
            url="http://127.0.0.1:9/cc",
            secret="careful-secret-123456",
            follow_up_after_send=True,
        ),
    )
    n = new_order(source="Careful Client")
    cancel(depot, n, req())
    x = rows(depot, n)
    assert (x.notices[0].transport, x.notices[0].state) == ("http", "held")
    assert (
        x.followups[0].text
        == f"Check with Careful Client that the cancellation of order {n} was carried out."
    )


def test_warehouse_cancellation_is_pending_until_it_answers(rows, depot, new_order):
    n = new_order()
    dispatch(depot, n, "Central Warehouse")
    p = Cancel(n, request=req()).preview(depot)
    assert any("The order changes when Central Warehouse confirms" in line for line in p.lines)

    r = cancel(depot, n, req())

    x = rows(depot, n)
    assert x.order.status == "dispatched"  # nothing changes before the answer
    assert all(ln.cancelled == 0 for ln in x.order.lines)
    m = x.notices[-1]
    assert (m.kind, m.transport, m.state, m.awaits_answer) == (
        "order.cancellation",
        "http",
        "held",
        True,
    )
    [c] = x.cancellations
    assert (c.state, c.lines) == ("pending", {"BOX-S": 2, "PALLET": 1})
    assert (x.last.from_status, x.last.to_status) == ("dispatched", "dispatched")
    assert r.to_status is Status.DISPATCHED


def test_warehouse_cancellation_is_not_passed_on_to_the_channel(rows, depot, new_order):
    n = new_order(source="Shopfront")
    dispatch(depot, n, "Central Warehouse")
    cancel(depot, n, req(None))  # Shopfront is not told, so its reason rule does not apply
    x = rows(depot, n)
    assert [m.partner.name for m in x.notices if m.kind == "order.cancellation"] == [
        "Central Warehouse"
    ]
    # not before the warehouse confirmed: it may refuse (issue 9 item 2)
    assert x.followups == []
    wh = next(m for m in x.notices if m.kind == "order.cancellation")
    receive(depot, "Central Warehouse",
            {"id": "wh-yes", "kind": "notice.answer", "notice": wh.id, "outcome": "accepted"})
    x = rows(depot, n)
    assert x.order.status == "cancelled"
    [f] = x.followups
    assert f.partner.name == "Shopfront" and f.notice_id is None
    assert f.text == f"Cancel order {n} at Shopfront too."


def test_warehouse_refusal_means_no_follow_up_for_the_channel(rows, depot, new_order):
    n = new_order(source="Shopfront")
    dispatch(depot, n, "Central Warehouse")
    cancel(depot, n, req(None))
    wh = next(m for m in rows(depot, n).notices if m.kind == "order.cancellation")
    receive(depot, "Central Warehouse", {"id": "wh-no", "kind": "notice.answer", "notice": wh.id,
                                         "outcome": "refused", "message": "Picking started."})
    x = rows(depot, n)
    assert x.order.status == "dispatched"
    assert [f.partner.name for f in x.followups] == ["Central Warehouse"]  # handle it as a return
    assert not any("Shopfront" in f.text for f in x.followups)


def test_cancellation_of_an_order_with_a_subcontractor_tells_both(rows, depot, new_order):
    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    cancel(depot, n, req())
    x = rows(depot, n)
    assert x.order.status == "cancelled"
    assert sorted(m.partner.name for m in x.notices if m.kind == "order.cancellation") == [
        "Plain Client",
        "Swift Haulage",
    ]


def test_cancellation_refused_after_pickup(counts, depot, new_order):
    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    set_status(depot, n, Status.ACCEPTED)
    set_status(depot, n, Status.PICKED_UP)
    c = counts(depot)
    with pytest.raises(
        Refused, match="Picked up: it can no longer be cancelled. Handle it as a return."
    ):
        cancel(depot, n, req())
    assert counts(depot) == c


# --------------------------------------------------------------------------- reject with checks


@pytest.mark.parametrize(
    "setup, sentence",
    [
        (dict(documents=[("delivery_note", "DN-7")]), "is referenced by a delivery note."),
        (dict(documents=[("invoice", "INV-7")]), "is referenced by an invoice."),
        (dict(backorders=[("BOX-S", 1)]), "has 1 back-ordered line."),
    ],
    ids=["delivery note", "invoice", "back-order"],
)
def test_reject_refused_by_each_document_check(rows, counts, make_order, depot, setup, sentence):
    n = make_order(depot, source="Plain Client", **setup)
    c = counts(depot)
    with pytest.raises(Refused) as e:
        reject(depot, n)
    assert e.value.reasons == [f"Order {n} {sentence}"]
    assert counts(depot) == c
    assert rows(depot, n).order.status == "created"


def test_reject_refused_after_pickup(counts, depot, new_order):
    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    set_status(depot, n, Status.ACCEPTED)
    set_status(depot, n, Status.PICKED_UP)
    c = counts(depot)
    with pytest.raises(Refused) as e:
        reject(depot, n)
    assert e.value.reasons == [
        f"Order {n} is Picked up: the goods have left. Handle it as a return."
    ]
    assert counts(depot) == c


def test_reject_refused_when_already_rejected(counts, depot, new_order):
    n = new_order(source="Plain Client")
    reject(depot, n)
    c = counts(depot)
    with pytest.raises(Refused) as e:
        reject(depot, n)
    assert e.value.reasons == [f"Order {n} is already Rejected."]
    assert counts(depot) == c


def test_reject_with_notify_buyer_sends_the_message(rows, depot, new_order):
    n = new_order(source="Plain Client", ref="PC-3")
    r = reject(depot, n, notify_buyer=True, message="We do not deliver to islands.")
    x = rows(depot, n)
    assert x.order.status == "rejected" and x.order.partner_not_informed is False
    [m] = x.notices
    assert (m.partner.name, m.kind, m.state) == ("Plain Client", "order.rejected", "held")
    assert m.payload == {
        "order": n,
        "status": "rejected",
        "your_ref": "PC-3",
        "message": "We do not deliver to islands.",
    }
    assert (x.last.action, x.last.actor, x.last.reason) == (
        "reject",
        "tester",
        "We do not deliver to islands.",
    )
    assert x.last.notices == [m.id] == list(r.notices)


def test_reject_without_notify_buyer_tells_nobody_and_marks_it(rows, depot, new_order):
    n = new_order(source="Plain Client")
    p = Reject(n, notify_buyer=False).preview(depot)
    assert "Plain Client will NOT be told (notify the buyer is off)." in p.lines
    reject(depot, n, notify_buyer=False, message="not sent")
    x = rows(depot, n)
    assert x.order.status == "rejected"
    assert x.order.partner_not_informed is True
    assert x.notices == [] and x.followups == []
    assert "notify the buyer is off" in x.last.detail


def test_reject_without_notify_buyer_still_takes_it_back_from_the_subcontractor(
    rows, depot, new_order
):
    n = new_order(source="Plain Client")
    dispatch(depot, n, "Swift Haulage")
    reject(depot, n, notify_buyer=False)
    x = rows(depot, n)
    assert [(m.partner.name, m.kind) for m in x.notices] == [
        ("Swift Haulage", "order.new"),
        ("Swift Haulage", "order.revoked"),
    ]


def test_reject_message_too_long(depot, new_order):
    n = new_order(source="Plain Client")
    with pytest.raises(InvalidInput, match="longer than 4000"):
        reject(depot, n, message="x" * 4001)


def test_trash_and_reject_share_the_checks(make_order, depot):
    n = make_order(depot, source="Plain Client", backorders=[("BOX-S", 1)])
    with pytest.raises(Refused, match="back-ordered"):
        trash(depot, n)


def test_number_taken_by_a_parallel_session_is_refused_not_a_crash(
    rows, counts, depot, new_order, monkeypatch
):
    """The check and the insert race on PostgreSQL; the unique constraint has the last word."""

    from dispatchdesk.services import actions

    a, b = new_order(source="Plain Client"), new_order(source="Plain Client")
    cancel(depot, a, req(number="CN-RACE"))
    # as if the other session had not committed yet when this one checked the number
    monkeypatch.setattr(actions, "_cancellation_number_taken", lambda session, number: False)
    c = counts(depot)
    with pytest.raises(Refused, match="Cancellation number 'CN-RACE' is already used"):
        cancel(depot, b, req(number="CN-RACE"))
    assert counts(depot) == c
    assert rows(depot, b).order.status == "created"
