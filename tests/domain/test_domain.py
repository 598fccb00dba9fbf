"""The domain rules (SPEC 3, 4 and 6): moves, checks, plans, delivery and reactions."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dispatchdesk.domain import (
    ALL_STATUSES,
    GOODS_MOVED,
    TERMINAL,
    WORKING,
    CancellationRequest,
    CancelMethod,
    Direction,
    DocumentKind,
    FollowUpPlan,
    LineFacts,
    LinkKind,
    NoticeKind,
    NoticePlan,
    NoticeState,
    OrderFacts,
    PartnerFacts,
    Plan,
    Reaction,
    ReasonCode,
    RejectionMapsTo,
    Role,
    Status,
    Transport,
    allowed_targets,
    cancellation_quantities,
    delivery,
    move_refusal,
    plan_archive,
    plan_cancellation,
    plan_dispatch,
    plan_refuse_cancel_request,
    plan_reject,
    plan_revoke,
    plan_set_status,
    plan_trash,
    react_to_cancel_request,
    react_to_cancellation,
    react_to_rejection,
    react_to_revocation,
    react_to_status,
    reason_refusals,
    reject_refusals,
)
from dispatchdesk.domain.rules import MOVES

S = Status
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

CLIENT = PartnerFacts("Acme Logistics", Role.CLIENT, link=LinkKind.HTTP)
CHANNEL = PartnerFacts("Shopline", Role.CHANNEL, link=LinkKind.HTTP)
SUB = PartnerFacts("Fast Freight", Role.SUBCONTRACTOR, link=LinkKind.HTTP)
WAREHOUSE = PartnerFacts("Store-It", Role.WAREHOUSE, link=LinkKind.HTTP)
PHONE_CLIENT = PartnerFacts("Corner Shop", Role.CLIENT, link=LinkKind.NONE)


def order(status: Status = S.CREATED, **kw) -> OrderFacts:
    return OrderFacts("ORD-1", status, **kw)


def cancel(reason: ReasonCode | None = ReasonCode.CLIENT_CANCELLED, **kw) -> CancellationRequest:
    return CancellationRequest(reason, **kw)


# ============================================================================ the move table

#: SPEC 3's table, plus Created -> Accepted (our own driver; documented in rules.py).
SPEC_MOVES = {
    (S.CREATED, S.DISPATCHED),
    (S.DISPATCHED, S.CREATED),
    (S.ACCEPTED, S.CREATED),
    (S.DISPATCHED, S.ACCEPTED),
    (S.CREATED, S.ACCEPTED),
    (S.ACCEPTED, S.PICKED_UP),
    (S.PICKED_UP, S.DELIVERED),
    # SPEC 3 says "any non-terminal", but SPEC 4.4/4.5 refuse once the goods have left,
    # so those rows are not moves at all (rules.py says so).
    *((s, S.REJECTED) for s in (S.CREATED, S.DISPATCHED, S.ACCEPTED)),
    *((s, S.CANCELLED) for s in (S.CREATED, S.DISPATCHED, S.ACCEPTED)),
}

NOT_MOVES = [pair for pair in itertools.product(Status, Status) if pair not in MOVES]


def test_move_table_is_the_specs() -> None:
    assert set(MOVES) == SPEC_MOVES
    assert len(MOVES) == 13


@pytest.mark.parametrize(
    ("frm", "to"), list(MOVES), ids=[f"{a.label}->{b.label}" for a, b in MOVES]
)
def test_every_move_in_the_table_is_allowed(frm: Status, to: Status) -> None:
    # The only move that needs a fact is Created -> Accepted: nobody else carries the order.
    assert move_refusal(order(frm), to) is None


def test_created_to_accepted_is_refused_when_a_partner_carries_it() -> None:
    refusal = move_refusal(order(S.CREATED, assignee=SUB), S.ACCEPTED)
    assert refusal == "Order ORD-1 is with Fast Freight; it is accepted when they accept it."


@pytest.mark.parametrize(
    ("frm", "to"), NOT_MOVES, ids=[f"{a.label}->{b.label}" for a, b in NOT_MOVES]
)
def test_every_move_not_in_the_table_is_refused(frm: Status, to: Status) -> None:
    refusal = move_refusal(order(frm), to)
    assert refusal is not None
    assert refusal.startswith("Order ORD-1 ")
    assert frm.label in refusal
    if frm is to:
        assert refusal == f"Order ORD-1 is already {frm.label}."
    elif frm.terminal:
        assert "final" in refusal
    elif to is S.CREATED and frm in GOODS_MOVED:
        assert "return" in refusal
    elif to in (S.REJECTED, S.CANCELLED) and frm in GOODS_MOVED:
        assert refusal == (
            f"Order ORD-1 is {frm.label}: the goods have left, so it cannot go to {to.label}. "
            "Handle it as a return."
        )
    elif not allowed_targets(frm):
        assert refusal == (
            f"Order ORD-1 is {frm.label}: it moves no further, not to {to.label}. "
            "Archive it when it is done with."
        )
    else:
        options = ", ".join(t.label for t in allowed_targets(frm))
        assert refusal == (
            f"Order ORD-1 cannot go from {frm.label} to {to.label}; "
            f"from {frm.label} it can go to: {options}."
        )


def test_the_sweep_covers_every_pair() -> None:
    assert len(NOT_MOVES) + len(MOVES) == len(Status) ** 2 == 49


@pytest.mark.parametrize(
    ("status", "targets"),
    [
        (S.CREATED, [S.DISPATCHED, S.ACCEPTED, S.REJECTED, S.CANCELLED]),
        (S.DISPATCHED, [S.CREATED, S.ACCEPTED, S.REJECTED, S.CANCELLED]),
        (S.ACCEPTED, [S.CREATED, S.PICKED_UP, S.REJECTED, S.CANCELLED]),
        (S.PICKED_UP, [S.DELIVERED]),
        (S.DELIVERED, []),
        (S.REJECTED, []),
        (S.CANCELLED, []),
    ],
)
def test_allowed_targets(status: Status, targets: list[Status]) -> None:
    assert allowed_targets(status) == targets


@pytest.mark.parametrize("frm", sorted(TERMINAL))
@pytest.mark.parametrize("to", list(Status))
def test_terminal_statuses_refuse_everything(frm: Status, to: Status) -> None:
    refusal = move_refusal(order(frm), to)
    if to is frm:
        assert refusal == f"Order ORD-1 is already {frm.label}."
    else:
        assert refusal == (
            f"Order ORD-1 is {frm.label}, which is final: nothing moves it again. "
            "Only Archive and Tags are allowed on it."
        )
    assert plan_set_status(order(frm), to, NOW).allowed is False


@pytest.mark.parametrize("frm", [S.PICKED_UP, S.DELIVERED])
def test_goods_moved_cannot_go_back_to_created(frm: Status) -> None:
    expected = (
        f"Order ORD-1 is {frm.label}: the goods have left, so the shipment cannot be "
        "called back. Handle it as a return."
    )
    o = order(frm, assignee=SUB)
    assert move_refusal(o, S.CREATED) == expected
    plan = plan_set_status(o, S.CREATED, NOW)
    assert plan.refusals == (expected,)
    assert plan.notices == ()
    assert plan_revoke(o, NOW).refusals == (expected,)


@pytest.mark.parametrize("frm", [s for s in Status if not s.terminal])
def test_refusal_only_offers_moves_that_can_happen(frm: Status) -> None:
    """A refusal that lists where the order can go lists only moves that are allowed."""
    o = order(frm, source=CLIENT)
    for to in Status:
        refusal = move_refusal(o, to)
        if refusal is None or "it can go to: " not in refusal:
            continue
        offered = refusal.split("it can go to: ")[1].rstrip(".").split(", ")
        for label in offered:
            target = next(t for t in Status if t.label == label)
            assert move_refusal(o, target) is None, (frm, to, label)
            if target is S.REJECTED:
                assert plan_trash(o, NOW).allowed
            if target is S.CANCELLED:
                assert plan_cancellation(o, cancel(), NOW).allowed


# ============================================================================ SPEC 4.5 checks


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"status": S.REJECTED}, "Order ORD-1 is already Rejected."),
        ({"status": S.CANCELLED}, "Order ORD-1 is already Cancelled."),
        (
            {"status": S.PICKED_UP},
            "Order ORD-1 is Picked up: the goods have left. Handle it as a return.",
        ),
        (
            {"status": S.DELIVERED},
            "Order ORD-1 is Delivered: the goods have left. Handle it as a return.",
        ),
        (
            {"documents": (DocumentKind.DELIVERY_NOTE,)},
            "Order ORD-1 is referenced by a delivery note.",
        ),
        ({"documents": (DocumentKind.INVOICE,)}, "Order ORD-1 is referenced by an invoice."),
        (
            {"documents": (DocumentKind.INVOICE, DocumentKind.INVOICE)},
            "Order ORD-1 is referenced by an invoice.",
        ),
        (
            {"documents": (DocumentKind.INVOICE, DocumentKind.DELIVERY_NOTE)},
            "Order ORD-1 is referenced by a delivery note and an invoice.",
        ),
        ({"backorders": 1}, "Order ORD-1 has 1 back-ordered line."),
        ({"backorders": 3}, "Order ORD-1 has 3 back-ordered lines."),
    ],
)
def test_each_reject_check_has_its_own_sentence(facts: dict, expected: str) -> None:
    status = facts.pop("status", S.ACCEPTED)
    o = order(status, **facts)
    assert reject_refusals(o) == [expected]
    assert plan_trash(o, NOW).refusals == (expected,)


@pytest.mark.parametrize("status", [S.CREATED, S.DISPATCHED, S.ACCEPTED])
def test_reject_checks_pass(status: Status) -> None:
    assert reject_refusals(order(status)) == []


@pytest.mark.parametrize(
    ("status", "first"),
    [
        (S.CANCELLED, "Order ORD-1 is already Cancelled."),
        (S.DELIVERED, "Order ORD-1 is Delivered: the goods have left. Handle it as a return."),
    ],
)
def test_every_failing_reject_check_is_named(status: Status, first: str) -> None:
    # The status is one value, so "final" and "goods moved" cannot both fail at once.
    o = order(status, documents=(DocumentKind.DELIVERY_NOTE, DocumentKind.INVOICE), backorders=2)
    expected = [
        first,
        "Order ORD-1 is referenced by a delivery note and an invoice.",
        "Order ORD-1 has 2 back-ordered lines.",
    ]
    assert reject_refusals(o) == expected
    plan = plan_trash(o, NOW)
    assert plan.refusals == tuple(expected)
    assert plan.allowed is False
    assert [ln for ln in plan.describe(10) if ln.startswith("Refused: ")] == [
        f"Refused: {r}" for r in expected
    ]


# ============================================================================ reasons


def test_other_needs_a_comment() -> None:
    expected = ["Reason OTHER needs a comment that says what the reason is."]
    assert reason_refusals(ReasonCode.OTHER, "", []) == expected
    assert reason_refusals(ReasonCode.OTHER, "   \n", []) == expected
    assert reason_refusals(ReasonCode.OTHER, "driver ill", []) == []


def test_reason_required_partners_need_a_code() -> None:
    strict = replace(SUB, reason_required=True)
    strict_wh = replace(WAREHOUSE, reason_required=True)
    assert reason_refusals(None, "", [strict, CHANNEL, strict_wh]) == [
        "Fast Freight requires a reason code for every cancellation.",
        "Store-It requires a reason code for every cancellation.",
    ]
    assert reason_refusals(ReasonCode.DAMAGED, "", [strict, strict_wh]) == []
    assert reason_refusals(None, "", [SUB, CHANNEL]) == []


def test_cancellation_checks_reasons_of_the_partners_told() -> None:
    o = order(S.DISPATCHED, assignee=replace(SUB, reason_required=True))
    plan = plan_cancellation(o, cancel(None), NOW)
    assert plan.refusals == ("Fast Freight requires a reason code for every cancellation.",)
    plan = plan_cancellation(o, cancel(ReasonCode.OTHER), NOW)
    assert plan.refusals == ("Reason OTHER needs a comment that says what the reason is.",)
    assert plan_cancellation(o, cancel(ReasonCode.OTHER, comment="x"), NOW).allowed is True


# ============================================================================ delivery()


def deliver(partner: PartnerFacts, kind=NoticeKind.CANCELLATION, since=None):
    return delivery(partner, kind, "ORD-1", now=NOW, since=since)


def test_delivery_api_is_sent_at_once() -> None:
    assert deliver(replace(SUB, cancel_method=CancelMethod.API)) == (Transport.HTTP, [])


@pytest.mark.parametrize("age", [0, 60, 300])
def test_delivery_api_window_inside(age: int) -> None:
    p = replace(SUB, cancel_method=CancelMethod.API_WINDOW, window_seconds=300)
    assert deliver(p, since=NOW - timedelta(seconds=age)) == (Transport.HTTP, [])


@pytest.mark.parametrize("since", [NOW - timedelta(seconds=301), NOW - timedelta(days=1), None])
def test_delivery_api_window_outside(since: datetime | None) -> None:
    p = replace(SUB, cancel_method=CancelMethod.API_WINDOW, window_seconds=300)
    assert deliver(p, since=since) == (
        Transport.MANUAL,
        [
            FollowUpPlan(
                "Fast Freight",
                "Fast Freight's 5-minute cancellation window has passed: "
                "cancel order ORD-1 with Fast Freight by hand.",
            )
        ],
    )


def test_delivery_api_window_follow_up_states_the_window_truly() -> None:
    p = replace(SUB, cancel_method=CancelMethod.API_WINDOW, window_seconds=90)
    _, followups = deliver(p, since=NOW - timedelta(seconds=91))
    assert "1-minute" not in followups[0].text


def test_delivery_email_method_sends_email_and_asks_to_confirm() -> None:
    p = replace(SUB, cancel_method=CancelMethod.EMAIL)
    assert deliver(p) == (
        Transport.EMAIL,
        [
            FollowUpPlan(
                "Fast Freight",
                "Confirm with Fast Freight that the cancellation of order ORD-1 arrived.",
            )
        ],
    )


def test_delivery_manual_method_is_a_follow_up_only() -> None:
    p = replace(SUB, cancel_method=CancelMethod.MANUAL)
    assert deliver(p) == (
        Transport.MANUAL,
        [
            FollowUpPlan(
                "Fast Freight", "Tell Fast Freight by hand: the cancellation of order ORD-1."
            )
        ],
    )


def test_cancel_method_applies_to_cancellations_only() -> None:
    p = replace(SUB, cancel_method=CancelMethod.MANUAL)
    assert deliver(p, NoticeKind.REVOCATION) == (Transport.HTTP, [])


def what(kind: NoticeKind) -> str:
    """How a follow-up names the notice: 'new order ORD-1', 'the revocation of order ORD-1'."""
    return "new order ORD-1" if kind is NoticeKind.ORDER else f"the {kind.label} of order ORD-1"


@pytest.mark.parametrize("method", list(CancelMethod))
@pytest.mark.parametrize("kind", [NoticeKind.REVOCATION, NoticeKind.REJECTION, NoticeKind.ORDER])
def test_delivery_link_none_is_manual(method: CancelMethod, kind: NoticeKind) -> None:
    p = replace(SUB, link=LinkKind.NONE, cancel_method=method, window_seconds=300)
    transport, followups = deliver(p, kind, since=NOW)
    assert transport is Transport.MANUAL
    assert followups == [FollowUpPlan("Fast Freight", f"Tell Fast Freight by hand: {what(kind)}.")]


def test_delivery_link_email() -> None:
    p = replace(SUB, link=LinkKind.EMAIL)
    assert deliver(p, NoticeKind.REVOCATION) == (
        Transport.EMAIL,
        [
            FollowUpPlan(
                "Fast Freight",
                "Confirm with Fast Freight that the revocation of order ORD-1 arrived.",
            )
        ],
    )


@pytest.mark.parametrize("kind", [NoticeKind.CANCELLATION, NoticeKind.REJECTION, NoticeKind.ORDER])
def test_delivery_link_stopped_is_manual(kind: NoticeKind) -> None:
    p = replace(SUB, link_stopped=True, cancel_method=CancelMethod.API)
    assert deliver(p, kind) == (
        Transport.MANUAL,
        [
            FollowUpPlan(
                "Fast Freight",
                f"The link to Fast Freight is stopped; tell them by hand: {what(kind)}.",
            )
        ],
    )


@pytest.mark.parametrize(
    "kind", [NoticeKind.CANCELLATION, NoticeKind.REVOCATION, NoticeKind.REJECTION]
)
def test_delivery_follow_up_after_send(kind: NoticeKind) -> None:
    p = replace(SUB, follow_up_after_send=True)
    assert deliver(p, kind) == (
        Transport.HTTP,
        [
            FollowUpPlan(
                "Fast Freight",
                f"Check with Fast Freight that the {kind.label} of order ORD-1 was carried out.",
            )
        ],
    )


@pytest.mark.parametrize("kind", [NoticeKind.ORDER, NoticeKind.STATUS, NoticeKind.ANSWER])
def test_follow_up_after_send_only_for_undoable_notices(kind: NoticeKind) -> None:
    assert deliver(replace(SUB, follow_up_after_send=True), kind) == (Transport.HTTP, [])


# ============================================================================ plans


def test_plan_trash_tells_source_and_assignee_and_is_held() -> None:
    o = order(S.ACCEPTED, source=CLIENT, assignee=SUB)
    plan = plan_trash(o, NOW)
    assert plan.allowed
    assert plan.action == "trash"
    assert (plan.from_status, plan.to_status) == (S.ACCEPTED, S.REJECTED)
    assert plan.notices == (
        NoticePlan("Acme Logistics", NoticeKind.REJECTION, Transport.HTTP, held=True),
        NoticePlan("Fast Freight", NoticeKind.REVOCATION, Transport.HTTP, held=True),
    )
    assert plan.followups == ()
    assert plan.partner_not_informed is False
    assert plan.clear_cancellation_request is True
    assert (plan.undoable, plan.final) == (True, True)


def test_plan_trash_by_hand_for_a_partner_without_link() -> None:
    plan = plan_trash(order(S.CREATED, source=PHONE_CLIENT), NOW)
    assert plan.notices == (
        NoticePlan("Corner Shop", NoticeKind.REJECTION, Transport.MANUAL, True),
    )
    assert plan.followups == (
        FollowUpPlan("Corner Shop", "Tell Corner Shop by hand: the rejection of order ORD-1."),
    )


def test_plan_set_status_rejected_is_silent_and_says_so() -> None:
    o = order(S.ACCEPTED, source=CLIENT, assignee=SUB)
    plan = plan_set_status(o, S.REJECTED, NOW)
    assert plan.allowed
    assert plan.to_status is S.REJECTED
    assert plan.notices == ()
    assert plan.followups == ()
    assert plan.warnings == (
        "Acme Logistics will NOT be told; use Trash to tell them.",
        "Fast Freight will NOT be told; use Trash to tell them.",
    )
    assert plan.partner_not_informed is True
    assert plan.final is True


def test_plan_set_status_rejected_own_order_marks_nothing() -> None:
    plan = plan_set_status(order(S.CREATED), S.REJECTED, NOW)
    assert plan.allowed
    assert plan.warnings == ()
    assert plan.partner_not_informed is False
    assert "Nobody outside the depot will be told." in plan.describe(10)


def test_plan_set_status_rejected_runs_the_reject_checks() -> None:
    plan = plan_set_status(order(S.ACCEPTED, backorders=1), S.REJECTED, NOW)
    assert plan.refusals == ("Order ORD-1 has 1 back-ordered line.",)


def test_plan_set_status_dispatched_asks_for_a_partner() -> None:
    plan = plan_set_status(order(S.CREATED), S.DISPATCHED, NOW)
    assert plan.refusals == ("Choose the subcontractor or warehouse to send order ORD-1 to.",)


def test_plan_set_status_cancelled_points_at_create_cancellation() -> None:
    plan = plan_set_status(order(S.ACCEPTED, source=CHANNEL), S.CANCELLED, NOW)
    assert plan.refusals == (
        "Use Create cancellation… for order ORD-1: it asks for the reason "
        "and tells every partner concerned.",
    )
    assert plan.notices == ()


def test_plan_set_status_created_is_a_revoke() -> None:
    plan = plan_set_status(order(S.DISPATCHED, assignee=SUB), S.CREATED, NOW)
    assert plan == plan_revoke(order(S.DISPATCHED, assignee=SUB), NOW)
    assert plan.action == "revoke"


@pytest.mark.parametrize(
    ("frm", "to"), [(S.CREATED, S.ACCEPTED), (S.ACCEPTED, S.PICKED_UP), (S.PICKED_UP, S.DELIVERED)]
)
def test_plan_set_status_progress_tells_the_source(frm: Status, to: Status) -> None:
    plan = plan_set_status(order(frm, source=CLIENT), to, NOW)
    assert plan.allowed
    assert (plan.from_status, plan.to_status) == (frm, to)
    assert plan.notices == (
        NoticePlan("Acme Logistics", NoticeKind.STATUS, Transport.HTTP, held=False),
    )
    assert (plan.undoable, plan.final) == (False, False)
    assert plan_set_status(order(frm), to, NOW).notices == ()


@pytest.mark.parametrize("frm", [S.DISPATCHED, S.ACCEPTED])
def test_plan_revoke_tells_the_assignee_and_unassigns(frm: Status) -> None:
    plan = plan_revoke(order(frm, source=CLIENT, assignee=SUB), NOW)
    assert plan.allowed
    assert plan.action == "revoke"
    assert (plan.from_status, plan.to_status) == (frm, S.CREATED)
    assert plan.notices == (
        NoticePlan("Fast Freight", NoticeKind.REVOCATION, Transport.HTTP, held=True),
    )
    assert plan.unassign is True
    assert (plan.undoable, plan.final) == (True, False)


def test_plan_revoke_from_created_is_refused() -> None:
    plan = plan_revoke(order(S.CREATED), NOW)
    assert plan.refusals == ("Order ORD-1 is already Created.",)


def test_plan_dispatch_to_a_subcontractor() -> None:
    plan = plan_dispatch(order(S.CREATED, source=CLIENT), SUB, NOW)
    assert plan.allowed
    assert (plan.from_status, plan.to_status) == (S.CREATED, S.DISPATCHED)
    assert plan.assign == "Fast Freight"
    assert plan.notices == (
        NoticePlan("Fast Freight", NoticeKind.ORDER, Transport.HTTP, held=False),
    )
    assert "It is sent to Fast Freight." in plan.describe(10)


@pytest.mark.parametrize("partner", [CLIENT, CHANNEL], ids=["client", "channel"])
def test_plan_dispatch_refuses_a_partner_that_sends_us_orders(partner: PartnerFacts) -> None:
    plan = plan_dispatch(order(S.CREATED), partner, NOW)
    assert plan.refusals == (
        f"{partner.name} is a {partner.role.value}: orders are sent only to a subcontractor or a warehouse.",
    )


def test_plan_dispatch_refuses_sending_back_to_the_source_and_a_bad_move() -> None:
    same = PartnerFacts("Acme Logistics", Role.SUBCONTRACTOR, link=LinkKind.HTTP)
    plan = plan_dispatch(order(S.ACCEPTED, source=CLIENT), same, NOW)
    assert plan.refusals == (
        "Order ORD-1 cannot go from Accepted to Dispatched; from Accepted it can go to: "
        "Created, Picked up, Rejected, Cancelled.",
        "Order ORD-1 came from Acme Logistics; it cannot be sent back to them.",
    )


# ---------------------------------------------------------------------------- cancellations

LINES = (LineFacts("A", 2), LineFacts("B", 1))


def test_plan_cancellation_full() -> None:
    o = order(S.CREATED, source=CHANNEL, lines=LINES)
    plan = plan_cancellation(o, cancel(), NOW)
    assert plan.allowed
    assert plan.to_status is S.CANCELLED
    assert plan.extra == {"quantities": {"A": 2, "B": 1}, "partial": False}
    assert plan.notices == (
        NoticePlan("Shopline", NoticeKind.CANCELLATION, Transport.HTTP, held=True),
    )
    assert plan.warnings == ()
    assert plan.clear_cancellation_request is True
    assert (plan.undoable, plan.final) == (True, True)


def test_plan_cancellation_partial_stays_open() -> None:
    o = order(S.ACCEPTED, source=CHANNEL, lines=LINES)
    plan = plan_cancellation(o, cancel(lines={"A": 1}), NOW)
    assert plan.allowed
    assert plan.to_status is S.ACCEPTED
    assert plan.extra == {"quantities": {"A": 1}, "partial": True}
    assert plan.warnings == ("This is a partial cancellation: the order stays open with the rest.",)
    assert plan.clear_cancellation_request is False
    assert plan.final is False


def test_plan_cancellation_of_every_open_line_is_full() -> None:
    o = order(S.ACCEPTED, lines=(LineFacts("A", 2, cancelled=1), LineFacts("B", 1, cancelled=1)))
    plan = plan_cancellation(o, cancel(lines={"A": 1}), NOW)
    assert plan.to_status is S.CANCELLED
    assert plan.extra == {"quantities": {"A": 1}, "partial": False}


def test_plan_cancellation_at_a_warehouse_awaits_its_answer() -> None:
    o = order(S.DISPATCHED, assignee=WAREHOUSE, lines=LINES)
    plan = plan_cancellation(o, cancel(), NOW)
    assert plan.allowed
    assert plan.to_status is S.DISPATCHED
    assert plan.notices == (
        NoticePlan(
            "Store-It", NoticeKind.CANCELLATION, Transport.HTTP, held=True, awaits_answer=True
        ),
    )
    assert plan.awaits_answer is True
    assert plan.warnings == (
        "The order changes when Store-It confirms; if picking has started they "
        "refuse, and it must be handled as a return.",
    )
    assert plan.clear_cancellation_request is False
    assert plan.final is False


def test_plan_cancellation_at_a_warehouse_without_link_does_not_wait() -> None:
    o = order(S.DISPATCHED, assignee=replace(WAREHOUSE, link=LinkKind.NONE))
    plan = plan_cancellation(o, cancel(), NOW)
    assert plan.awaits_answer is False
    assert plan.to_status is S.CANCELLED


def test_plan_cancellation_at_a_warehouse_is_not_passed_on_to_the_channel() -> None:
    o = order(S.DISPATCHED, source=CHANNEL, assignee=WAREHOUSE)
    plan = plan_cancellation(o, cancel(), NOW)
    assert [n.partner for n in plan.notices] == ["Store-It"]
    # the follow-up comes only once the warehouse confirmed (issue 9 item 2)
    assert plan.followups == ()
    assert plan.on_confirm_followups == (
        FollowUpPlan("Shopline", "Cancel order ORD-1 at Shopline too."),
    )
    assert plan.on_confirm == ()
    assert plan.to_status is S.DISPATCHED
    assert (
        "Once Store-It confirms, a follow-up is created: Cancel order ORD-1 at Shopline too."
        in plan.describe(10)
    )


def test_plan_cancellation_at_a_warehouse_passed_on_when_the_channel_wants_it() -> None:
    o = order(S.DISPATCHED, source=replace(CHANNEL, pass_cancellations=True), assignee=WAREHOUSE)
    plan = plan_cancellation(o, cancel(), NOW)
    assert plan.notices == (
        NoticePlan(
            "Store-It", NoticeKind.CANCELLATION, Transport.HTTP, held=True, awaits_answer=True
        ),
    )
    # passed on only once the warehouse confirmed (issue 9 item 2)
    assert plan.on_confirm == (
        NoticePlan("Shopline", NoticeKind.CANCELLATION, Transport.HTTP, held=False),
    )
    assert plan.followups == ()


def test_plan_cancellation_subcontractor_and_client_are_both_told() -> None:
    o = order(S.ACCEPTED, source=CLIENT, assignee=SUB)
    plan = plan_cancellation(o, cancel(), NOW)
    assert [(n.partner, n.kind, n.awaits_answer) for n in plan.notices] == [
        ("Fast Freight", NoticeKind.CANCELLATION, False),
        ("Acme Logistics", NoticeKind.CANCELLATION, False),
    ]
    assert plan.to_status is S.CANCELLED


def test_plan_cancellation_api_window_uses_the_dispatch_time() -> None:
    sub = replace(SUB, cancel_method=CancelMethod.API_WINDOW, window_seconds=600)
    fresh = order(S.DISPATCHED, assignee=sub, dispatched_at=NOW - timedelta(minutes=5))
    late = replace(fresh, dispatched_at=NOW - timedelta(minutes=11))
    assert plan_cancellation(fresh, cancel(), NOW).notices[0].transport is Transport.HTTP
    plan = plan_cancellation(late, cancel(), NOW)
    assert plan.notices[0].transport is Transport.MANUAL
    assert plan.followups[0].text.startswith(
        "Fast Freight's 10-minute cancellation window has passed"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.CANCELLED, "Order ORD-1 is already Cancelled."),
        (S.REJECTED, "Order ORD-1 is already Rejected."),
        (
            S.PICKED_UP,
            "Order ORD-1 is Picked up: it can no longer be cancelled. Handle it as a return.",
        ),
        (
            S.DELIVERED,
            "Order ORD-1 is Delivered: it can no longer be cancelled. Handle it as a return.",
        ),
    ],
)
def test_plan_cancellation_refused(status: Status, expected: str) -> None:
    assert plan_cancellation(order(status), cancel(), NOW).refusals == (expected,)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ({"Z": 1}, "Order ORD-1 has no line with article 'Z'."),
        ({"A": 3}, "Only 2 of 'A' are open on order ORD-1; 3 cannot be cancelled."),
        ({"A": -1}, "The quantity to cancel of 'A' cannot be negative."),
        ({"A": 0, "B": 0}, "Choose at least one line and a quantity to cancel."),
    ],
)
def test_cancellation_quantities_refused(lines: dict[str, int], expected: str) -> None:
    wanted, refusals = cancellation_quantities(order(lines=LINES), lines)
    assert refusals == [expected]
    assert wanted == {}


def test_cancellation_quantities_nothing_left() -> None:
    o = order(lines=(LineFacts("A", 2, cancelled=2),))
    assert cancellation_quantities(o, {}) == ({}, ["Order ORD-1 has nothing left to cancel."])
    assert cancellation_quantities(order(), {}) == ({}, [])


def test_plan_reject_notifying_the_buyer() -> None:
    o = order(S.CREATED, source=CLIENT)
    plan = plan_reject(o, NOW, notify_buyer=True)
    assert plan.action == "reject"
    assert plan.notices == (
        NoticePlan("Acme Logistics", NoticeKind.REJECTION, Transport.HTTP, True),
    )
    assert plan.warnings == ()
    assert plan.partner_not_informed is False
    assert plan.to_status is S.REJECTED


def test_plan_reject_without_notifying_the_buyer() -> None:
    o = order(S.ACCEPTED, source=PHONE_CLIENT, assignee=SUB)
    plan = plan_reject(o, NOW, notify_buyer=False)
    assert plan.action == "reject"
    assert plan.notices == (
        NoticePlan("Fast Freight", NoticeKind.REVOCATION, Transport.HTTP, True),
    )
    assert plan.followups == ()  # the hand-delivery follow-up for Corner Shop went too
    assert plan.warnings == ("Corner Shop will NOT be told (notify the buyer is off).",)
    assert plan.partner_not_informed is True
    assert plan.to_status is S.REJECTED


def test_plan_reject_keeps_the_checks() -> None:
    o = order(S.PICKED_UP, source=CLIENT)
    assert plan_reject(o, NOW, notify_buyer=False).refusals == (
        "Order ORD-1 is Picked up: the goods have left. Handle it as a return.",
    )


def test_plan_refuse_cancel_request() -> None:
    plan = plan_refuse_cancel_request(order(S.PICKED_UP, source=CHANNEL), NOW)
    assert plan.allowed
    assert plan.from_status is plan.to_status is S.PICKED_UP
    assert plan.notices == (
        NoticePlan("Shopline", NoticeKind.CANCEL_REQUEST_REFUSED, Transport.HTTP, held=False),
    )
    assert plan.clear_cancellation_request is True
    assert plan_refuse_cancel_request(order(S.ACCEPTED), NOW).refusals == (
        "Order ORD-1 did not come from a partner.",
    )


def test_plan_archive() -> None:
    assert plan_archive(order(S.CANCELLED)).allowed
    assert plan_archive(order(archived=True)).refusals == ("Order ORD-1 is already archived.",)
    assert plan_archive(order(), archive=False).refusals == ("Order ORD-1 is not archived.",)
    plan = plan_archive(order(S.REJECTED, archived=True), archive=False)
    assert (plan.action, plan.allowed, plan.to_status) == ("unarchive", True, S.REJECTED)


# ============================================================================ Plan.describe()


def test_describe_revoke() -> None:
    plan = plan_revoke(order(S.DISPATCHED, assignee=SUB), NOW)
    assert plan.describe(10) == [
        "Order ORD-1: Dispatched → Created.",
        "It is taken back from the partner and can be dispatched again.",
        "Fast Freight will be told over the link after the undo window (revocation).",
        "It can be undone for 10 s afterwards.",
    ]


def test_describe_trash_with_and_without_undo() -> None:
    plan = plan_trash(order(S.ACCEPTED, source=CLIENT, assignee=SUB), NOW)
    told = [
        "Order ORD-1: Accepted → Rejected.",
        "Acme Logistics will be told over the link after the undo window (rejection).",
        "Fast Freight will be told over the link after the undo window (revocation).",
    ]
    assert plan.describe(10) == [*told, "It can be undone for 10 s afterwards."]
    assert plan.describe(25) == [*told, "It can be undone for 25 s afterwards."]
    assert plan.describe(0) == [*told, "It cannot be undone."]


def test_describe_silent_reject() -> None:
    plan = plan_set_status(order(S.ACCEPTED, source=CLIENT), S.REJECTED, NOW)
    assert plan.describe(10) == [
        "Order ORD-1: Accepted → Rejected.",
        "Acme Logistics will NOT be told; use Trash to tell them.",
        "It can be undone for 10 s afterwards.",
    ]


def test_describe_nobody_told() -> None:
    plan = plan_set_status(order(S.CREATED), S.REJECTED, NOW)
    assert plan.describe(0) == [
        "Order ORD-1: Created → Rejected.",
        "Nobody outside the depot will be told.",
        "It cannot be undone.",
    ]


def test_describe_by_hand_and_by_email() -> None:
    plan = plan_trash(order(S.CREATED, source=PHONE_CLIENT), NOW)
    assert plan.describe(10)[1:3] == [
        "Corner Shop will NOT be told automatically: a follow-up asks a person to tell them (rejection).",
        "A follow-up is created: Tell Corner Shop by hand: the rejection of order ORD-1.",
    ]
    emailed = order(S.DISPATCHED, assignee=replace(SUB, cancel_method=CancelMethod.EMAIL))
    lines = plan_cancellation(emailed, cancel(), NOW).describe(10)
    assert lines == [
        "Order ORD-1: Dispatched → Cancelled.",
        "Fast Freight will be told by e-mail after the undo window (cancellation).",
        "A follow-up is created: Confirm with Fast Freight that the cancellation of order ORD-1 arrived.",
        "It can be undone for 10 s afterwards.",
    ]


def test_describe_status_stays_and_refusals_have_no_undo_sentence() -> None:
    plan = plan_trash(order(S.DELIVERED), NOW)
    # a refused plan says only why: nothing about who would be told (issue 11, item 11)
    assert plan.describe(10) == [
        "Refused: Order ORD-1 is Delivered: the goods have left. Handle it as a return.",
    ]
    # archive is taken back by Unarchive: no "cannot be undone" (issue 11, item 7)
    assert plan_archive(order(S.ACCEPTED)).describe(10) == [
        "Order ORD-1 stays Accepted.",
        "Nobody outside the depot will be told.",
    ]


def test_summary_and_record_say_what_changed_in_the_past_tense() -> None:
    archived = plan_archive(order(S.ACCEPTED))
    assert archived.summary() == "Order ORD-1 archived; it stays Accepted."
    assert archived.record() == "Archived. Nobody outside the depot was told."
    trash = plan_trash(order(S.CREATED, source=CLIENT), NOW)
    assert trash.summary() == "Order ORD-1: Created → Rejected. Acme Logistics will be told."
    assert "will" not in trash.record() and "can be undone" not in trash.record()


def test_describe_dispatch_is_not_held() -> None:
    assert plan_dispatch(order(), SUB, NOW).describe(10) == [
        "Order ORD-1: Created → Dispatched.",
        "It is sent to Fast Freight.",
        "Fast Freight will be told over the link (order).",
        "It cannot be undone.",
    ]


# ============================================================================ messages in


def test_revocation_without_auto_trash_flags_the_order() -> None:
    o = order(S.ACCEPTED, source=CLIENT)
    assert react_to_revocation(o, CLIENT, NOW) == Reaction(
        None,
        flag_cancellation_request=True,
        answer=None,
        message="Cancellation requested; a dispatcher will decide.",
    )


def test_revocation_with_auto_trash_cancels_at_once() -> None:
    client = replace(CLIENT, auto_trash=True)
    o = order(S.ACCEPTED, source=client, lines=LINES)
    reaction = react_to_revocation(o, client, NOW)
    assert reaction.to_status is S.CANCELLED
    assert reaction.answer == "accepted"
    assert reaction.message == "Cancelled."
    assert reaction.flag_cancellation_request is False
    plan = reaction.plan
    assert plan is not None
    assert plan.action == "auto_trash"
    assert plan.to_status is S.CANCELLED
    assert plan.notices == ()  # the client already knows
    assert plan.followups == ()
    assert plan.undoable is False
    assert plan.extra["quantities"] == {"A": 2, "B": 1}


def test_revocation_with_auto_trash_tells_our_own_subcontractor() -> None:
    client = replace(CLIENT, auto_trash=True, reason_required=True)
    o = order(S.DISPATCHED, source=client, assignee=SUB)
    reaction = react_to_revocation(o, client, NOW)
    assert reaction.plan is not None
    assert reaction.plan.refusals == ()
    # applied on the client's word: there is no undo, so nothing waits out a window
    assert reaction.plan.notices == (
        NoticePlan("Fast Freight", NoticeKind.CANCELLATION, Transport.HTTP, held=False),
    )


def test_auto_trash_through_a_warehouse_does_not_claim_cancelled() -> None:
    client = replace(CLIENT, auto_trash=True)
    o = order(S.DISPATCHED, source=client, assignee=WAREHOUSE)
    reaction = react_to_revocation(o, client, NOW)
    assert reaction.plan is not None and reaction.plan.awaits_answer
    assert reaction.to_status is None
    assert reaction.message != "Cancelled."


@pytest.mark.parametrize("status", [S.PICKED_UP, S.DELIVERED])
@pytest.mark.parametrize("auto_trash", [False, True])
def test_revocation_after_pickup_is_refused(status: Status, auto_trash: bool) -> None:
    client = replace(CLIENT, auto_trash=auto_trash)
    reaction = react_to_revocation(order(status, source=client), client, NOW)
    assert reaction == Reaction(
        None,
        flag_cancellation_request=True,
        answer="refused",
        message=f"Already {status.label.lower()}; it will be handled as a return.",
    )


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_revocation_of_a_final_order_is_acknowledged(status: Status) -> None:
    reaction = react_to_revocation(order(status, source=CLIENT), CLIENT, NOW)
    assert reaction == Reaction(None, answer="accepted", message=f"Order already {status.label}.")


@pytest.mark.parametrize(
    ("maps_to", "expected"),
    [
        (RejectionMapsTo.CREATED, Reaction(S.CREATED, unassign=True, answer="accepted")),
        (RejectionMapsTo.REJECTED, Reaction(S.REJECTED, unassign=False, answer="accepted")),
    ],
)
def test_rejection_maps_by_the_partners_setting(
    maps_to: RejectionMapsTo, expected: Reaction
) -> None:
    sub = replace(SUB, rejection_maps_to=maps_to)
    assert react_to_rejection(order(S.DISPATCHED, assignee=sub), sub) == expected


def test_rejection_of_a_final_order_changes_nothing() -> None:
    sub = replace(SUB, rejection_maps_to=RejectionMapsTo.CREATED)
    assert react_to_rejection(order(S.CANCELLED, assignee=sub), sub) == Reaction(
        None, answer="accepted", message="Order already Cancelled."
    )


CHAIN = [S.DISPATCHED, S.ACCEPTED, S.PICKED_UP, S.DELIVERED]


@pytest.mark.parametrize(("current", "reported"), list(itertools.combinations(CHAIN, 2)))
def test_status_reports_move_forward(current: Status, reported: Status) -> None:
    assert react_to_status(order(current, assignee=SUB), SUB, reported) == Reaction(reported)


@pytest.mark.parametrize(("reported", "current"), list(itertools.combinations(CHAIN, 2)))
def test_status_reports_never_move_back(reported: Status, current: Status) -> None:
    reaction = react_to_status(order(current, assignee=SUB), SUB, reported)
    assert reaction == Reaction(
        None, message=f"Fast Freight reported {reported.label}; the order is {current.label}."
    )


@pytest.mark.parametrize(
    ("current", "reported"),
    [
        (S.ACCEPTED, S.ACCEPTED),
        (S.CANCELLED, S.DELIVERED),
        (S.REJECTED, S.ACCEPTED),
    ],
)
def test_status_reports_on_same_or_final_are_ignored(current: Status, reported: Status) -> None:
    assert react_to_status(order(current, assignee=SUB), SUB, reported) == Reaction(None)


@pytest.mark.parametrize("reported", [S.ACCEPTED, S.REJECTED, S.CANCELLED, S.CREATED])
def test_status_reports_outside_the_chain_change_nothing(reported: Status) -> None:
    # Created: we took it back already; Rejected/Cancelled come as their own messages.
    reaction = react_to_status(order(S.CREATED), SUB, reported)
    assert reaction.to_status is None


def test_cancel_request_on_an_untouched_created_order_cancels_at_once() -> None:
    o = order(S.CREATED, source=CHANNEL, untouched=True)
    assert react_to_cancel_request(o) == Reaction(
        S.CANCELLED, answer="accepted", message="Cancelled."
    )


@pytest.mark.parametrize(
    "o",
    [
        order(S.CREATED, source=CHANNEL, untouched=False),
        order(S.CREATED, source=CHANNEL, untouched=True, assignee=WAREHOUSE),
        order(S.DISPATCHED, source=CHANNEL, untouched=True, assignee=WAREHOUSE),
        order(S.ACCEPTED, source=CHANNEL, untouched=True),
        order(S.PICKED_UP, source=CHANNEL, untouched=True),
    ],
    ids=["touched", "assigned", "dispatched", "accepted", "picked-up"],
)
def test_cancel_request_otherwise_flags_the_order(o: OrderFacts) -> None:
    assert react_to_cancel_request(o) == Reaction(
        None,
        flag_cancellation_request=True,
        message="Cancellation requested; a dispatcher will decide.",
    )


def test_cancel_request_on_a_final_order_is_acknowledged() -> None:
    assert react_to_cancel_request(order(S.REJECTED, source=CHANNEL)) == Reaction(
        None, answer="accepted", message="Order already Rejected."
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.CREATED, Reaction(None, answer="accepted", message="Cancelled.")),
        (S.ACCEPTED, Reaction(None, answer="accepted", message="Cancelled.")),
        (
            S.PICKED_UP,
            Reaction(
                None, answer="refused", message="Already picked up; it will be handled as a return."
            ),
        ),
        (S.CANCELLED, Reaction(None, answer="accepted", message="Order already Cancelled.")),
    ],
)
def test_react_to_cancellation(status: Status, expected: Reaction) -> None:
    assert react_to_cancellation(order(status, source=CLIENT), {"A": 1}) == expected


# ============================================================================ the vocabulary


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("picked_up", S.PICKED_UP),
        ("Picked up", S.PICKED_UP),
        ("picked-up", S.PICKED_UP),
        ("PICKED UP", S.PICKED_UP),
        (" cancelled ", S.CANCELLED),
    ],
)
def test_status_parse(text: str, status: Status) -> None:
    assert Status.parse(text) is status


def test_status_parse_unknown_names_the_statuses() -> None:
    with pytest.raises(ValueError) as info:
        Status.parse("lost")
    assert str(info.value) == (
        "unknown status 'lost'; the statuses are: Created, Dispatched, Accepted, "
        "Picked up, Delivered, Rejected, Cancelled"
    )


def test_reason_code_parse() -> None:
    assert ReasonCode.parse("not in stock") is ReasonCode.NOT_IN_STOCK
    assert ReasonCode.parse("client-cancelled") is ReasonCode.CLIENT_CANCELLED
    with pytest.raises(ValueError, match="unknown reason code 'LATE'"):
        ReasonCode.parse("LATE")


def test_status_groups() -> None:
    assert TERMINAL == {S.REJECTED, S.CANCELLED}
    assert [s.terminal for s in ALL_STATUSES] == [False] * 5 + [True] * 2
    assert WORKING == (S.CREATED, S.DISPATCHED, S.ACCEPTED, S.PICKED_UP, S.DELIVERED)
    assert [s.label for s in ALL_STATUSES] == [
        "Created",
        "Dispatched",
        "Accepted",
        "Picked up",
        "Delivered",
        "Rejected",
        "Cancelled",
    ]


def test_roles() -> None:
    assert [r for r in Role if r.sends_us_orders] == [Role.CLIENT, Role.CHANNEL]
    assert [r for r in Role if r.takes_our_orders] == [Role.SUBCONTRACTOR, Role.WAREHOUSE]


def test_notice_kinds_and_states() -> None:
    assert {k for k in NoticeKind if k.undoable} == {
        NoticeKind.REVOCATION,
        NoticeKind.REJECTION,
        NoticeKind.CANCELLATION,
    }
    assert {s for s in NoticeState if s.waiting} == {
        NoticeState.HELD,
        NoticeState.QUEUED,
        NoticeState.SENT,
    }


def test_order_direction_and_open_quantity() -> None:
    assert order(source=CLIENT, assignee=SUB).direction is Direction.INBOUND
    assert order(assignee=SUB).direction is Direction.OUTBOUND
    assert order().direction is Direction.OWN
    assert LineFacts("A", 5, cancelled=2).open_quantity == 3


def test_plan_allowed_reflects_refusals() -> None:
    assert Plan("x", "ORD-1", S.CREATED, S.CREATED).allowed is True
    assert Plan("x", "ORD-1", S.CREATED, S.CREATED, refusals=("no",)).allowed is False
