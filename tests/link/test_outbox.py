"""The outbox rules without any network: claims, leases, order, back-off, 410, retry and skip.

Uses the shared fixtures of tests/conftest.py: a depot on a fresh SQLite file whose clock the
test moves (`clock.advance`), and one partner of every kind (`partners`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatchdesk.domain import NoticeState
from dispatchdesk.services import (
    CancellationRequest,
    ReasonCode,
    Refused,
    cancel_shipment,
    dispatch,
    set_setting,
    trash,
)
from dispatchdesk.services.outbox import (
    BACKOFF,
    Delivery,
    Outcome,
    RetryPolicy,
    claim_due,
    peek,
    record_result,
    retry,
    skip,
)
from dispatchdesk.store.models import AuditEntry, FollowUp, Notice, Partner

NO_JITTER = RetryPolicy(jitter=0.0)


def _notice(depot, nid):
    with depot.uow(write=False) as uow:
        n = uow.session.get(Notice, nid)
        return {c: getattr(n, c) for c in ("state", "attempts", "next_attempt_at", "last_error", "claimed_by",
                                           "lease_until", "sent_at")}


def _partner(depot, name):
    with depot.uow(write=False) as uow:
        p = uow.session.scalars(select(Partner).where(Partner.name == name)).one()
        return {c: getattr(p, c) for c in ("link_stopped", "last_contact_at", "last_error", "last_error_at")}


def _audit_actions(depot):
    with depot.uow(write=False) as uow:
        return [(a.action, a.actor) for a in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def sent_order(depot, partners, new_order):
    """An order dispatched to Swift Haulage (HTTP): one queued order.new notice."""
    number = new_order()
    dispatch(depot, number, "Swift Haulage")
    return number


def test_a_due_notice_is_claimed_with_everything_the_transport_needs(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=60)
    assert c.kind == "order.new" and c.order == sent_order and c.partner == "Swift Haulage"
    assert c.partner_url == "http://127.0.0.1:9/link" and c.partner_secret
    assert c.transport.value == "http" and c.attempts == 0
    body = c.body()
    assert body["id"] == c.id and body["kind"] == "order.new" and body["order"] == sent_order
    row = _notice(depot, c.id)
    assert row["claimed_by"] == "w1" and row["lease_until"] == clock.now + timedelta(seconds=60)
    assert row["state"] == "queued"


def test_a_claimed_notice_is_not_claimed_again_until_its_lease_lapses(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert claim_due(depot, "w2", limit=10, lease_seconds=30) == []
    clock.advance(31)
    [again] = claim_due(depot, "w2", limit=10, lease_seconds=30)
    assert again.id == c.id
    # the first worker's result comes too late: it is dropped, the second worker's counts
    assert record_result(depot, c.id, "w1", Delivery.sent()) is False
    assert _notice(depot, c.id)["state"] == "queued"
    assert record_result(depot, c.id, "w2", Delivery.sent()) is True
    assert _notice(depot, c.id)["state"] == "sent"


def test_a_result_after_the_lease_expired_is_dropped_even_if_nobody_reclaimed(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    clock.advance(31)
    assert record_result(depot, c.id, "w1", Delivery.sent()) is False
    row = _notice(depot, c.id)
    assert row["state"] == "queued" and row["attempts"] == 0
    [again] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert again.id == c.id


def test_sent_records_the_time_and_the_partner_contact(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    clock.advance(2)
    assert record_result(depot, c.id, "w1", Delivery.sent(200))
    row = _notice(depot, c.id)
    assert row["state"] == "sent" and row["sent_at"] == clock.now and row["attempts"] == 1
    assert row["claimed_by"] is None and row["lease_until"] is None
    assert _partner(depot, "Swift Haulage")["last_contact_at"] == clock.now
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []


def test_retries_follow_the_back_off_then_the_notice_fails(depot, sent_order, clock):
    waits = []
    nid = None
    for attempt in range(1, len(BACKOFF) + 2):
        claimed = claim_due(depot, "w1", limit=10, lease_seconds=30)
        assert len(claimed) == 1, f"attempt {attempt} was not due"
        nid = claimed[0].id
        assert record_result(depot, nid, "w1", Delivery.retry("Cannot connect"), policy=NO_JITTER)
        row = _notice(depot, nid)
        assert row["attempts"] == attempt
        if row["state"] == "failed":
            break
        wait = (row["next_attempt_at"] - clock.now).total_seconds()
        waits.append(wait)
        # not due a moment before its time
        clock.advance(wait - 1)
        assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
        clock.advance(1)
    assert waits == list(BACKOFF)
    row = _notice(depot, nid)
    assert row["state"] == "failed" and row["attempts"] == len(BACKOFF) + 1
    assert "Gave up after 8 attempts" in row["last_error"] and "Cannot connect" in row["last_error"]
    assert ("notice failed", "relay") in _audit_actions(depot)
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []


def test_jitter_stays_near_the_schedule_and_retry_after_is_honoured():
    lo = RetryPolicy(jitter=0.2, rnd=lambda: 0.0)
    hi = RetryPolicy(jitter=0.2, rnd=lambda: 0.999999)
    assert lo.delay(1) == pytest.approx(4.0) and hi.delay(1) == pytest.approx(6.0, rel=1e-3)
    assert lo.delay(2) == pytest.approx(240.0)
    assert NO_JITTER.delay(1, retry_after=120) == 120  # the partner asked for longer
    assert NO_JITTER.delay(2, retry_after=120) == 300  # the schedule is longer anyway
    assert NO_JITTER.delay(1, retry_after=10**9) == 36000  # capped at 10 h
    assert NO_JITTER.delay(8) is None and NO_JITTER.attempts == 8


def test_retry_after_moves_the_next_attempt(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    record_result(depot, c.id, "w1", Delivery.retry("HTTP 429", status=429, retry_after=90, contacted=True),
                  policy=NO_JITTER)
    row = _notice(depot, c.id)
    assert row["next_attempt_at"] == clock.now + timedelta(seconds=90)
    p = _partner(depot, "Swift Haulage")
    assert p["last_contact_at"] == clock.now and "HTTP 429" in p["last_error"]


def test_a_refusal_fails_at_once_with_the_answer(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    record_result(depot, c.id, "w1", Delivery.failed("HTTP 422: order has no lines", status=422))
    row = _notice(depot, c.id)
    assert row["state"] == "failed" and row["last_error"] == "HTTP 422: order has no lines"
    p = _partner(depot, "Swift Haulage")
    assert p["last_error_at"] == clock.now and "order has no lines" in p["last_error"]
    assert peek(depot).failed == 1


def test_error_text_is_sanitised_before_it_is_stored():
    d = Delivery.failed("HTTP 400: \x1b[2J\x1b]0;owned\x07[@click=app.quit]bad\u202e")
    assert "\x1b" not in d.error and "\u202e" not in d.error and "\x07" not in d.error
    assert "[@click=app.quit]bad" in d.error  # kept as literal text; the screen never parses it


def test_held_notices_are_never_claimed_until_the_undo_window_closes(depot, partners, new_order, clock):
    set_setting(depot, "undo_seconds", "10")
    number = new_order(source="Plain Client")
    trash(depot, number)  # a rejection to Plain Client, held for 10 s
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    assert peek(depot).waiting == 1 and not peek(depot).due
    clock.advance(10)
    assert peek(depot).due
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert c.kind == "order.rejected" and c.partner == "Plain Client"


def test_a_later_notice_never_overtakes_an_earlier_one_of_the_same_order_and_partner(depot, partners, new_order,
                                                                                     clock):
    set_setting(depot, "undo_seconds", "10")
    number = new_order()
    other = new_order()
    dispatch(depot, number, "Swift Haulage")
    dispatch(depot, other, "Swift Haulage")
    first = {c.order: c for c in claim_due(depot, "w1", limit=10, lease_seconds=30)}
    assert set(first) == {number, other}
    # the order.new of `number` is retrying; revoke it and dispatch it again to the same partner
    record_result(depot, first[number].id, "w1", Delivery.retry("HTTP 503", retry_after=60), policy=NO_JITTER)
    record_result(depot, first[other].id, "w1", Delivery.sent())
    cancel_shipment(depot, number)  # revocation, held 10 s
    clock.advance(10)
    dispatch(depot, number, "Swift Haulage")  # a second order.new, queued at once
    # only the first (retrying) notice of the order may go, and only when its retry is due
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    clock.advance(50)
    claimed = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert [(c.kind, c.seq) for c in claimed] == [("order.new", 1)]
    # while it is in flight, nothing behind it is due
    assert claim_due(depot, "w2", limit=10, lease_seconds=30) == []
    # it fails for good: the later ones still wait (a person decides), then skip lets them go
    record_result(depot, claimed[0].id, "w1", Delivery.failed("HTTP 400: no"))
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    skip(depot, claimed[0].id)
    nxt = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert [(c.kind, c.seq) for c in nxt] == [("order.revoked", 2)]
    record_result(depot, nxt[0].id, "w1", Delivery.sent())
    last = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert [(c.kind, c.seq) for c in last] == [("order.new", 3)]


def test_other_orders_and_other_partners_are_not_held_up(depot, partners, new_order, clock):
    a = new_order(source="Plain Client")
    dispatch(depot, a, "Swift Haulage")
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    record_result(depot, c.id, "w1", Delivery.failed("HTTP 400"))
    # same order, other partner: the order's status update to the client is not blocked
    from dispatchdesk.services import receive

    receive(depot, "Swift Haulage", {"id": "m-1", "kind": "order.status", "order": "S-1", "your_ref": a,
                                     "status": "accepted"})
    claimed = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert [(x.kind, x.partner) for x in claimed] == [("order.status", "Plain Client")]


def test_gone_stops_the_link_and_turns_waiting_notices_into_follow_ups(depot, partners, new_order, clock):
    a, b = new_order(), new_order()
    dispatch(depot, a, "Swift Haulage")
    dispatch(depot, b, "Swift Haulage")
    first, second = claim_due(depot, "w1", limit=1, lease_seconds=30), None
    assert len(first) == 1
    record_result(depot, first[0].id, "w1", Delivery.gone("HTTP 410 Gone: we closed this link"))
    p = _partner(depot, "Swift Haulage")
    assert p["link_stopped"] and "410" in p["last_error"] and p["last_error_at"] == clock.now
    assert _notice(depot, first[0].id)["state"] == "failed"
    with depot.uow(write=False) as uow:
        states = {n.id: n.state for n in uow.session.scalars(select(Notice))}
        fups = [f.text for f in uow.session.scalars(select(FollowUp).where(FollowUp.notice_id.is_not(None)))]
    second = [nid for nid in states if nid != first[0].id]
    assert [states[nid] for nid in second] == ["follow-up"]
    assert any("closed the link (410 Gone)" in t and "tell Swift Haulage by hand" in t for t in fups)
    assert ("link stopped", "relay") in _audit_actions(depot)
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    with pytest.raises(Refused, match="link to Swift Haulage is stopped"):
        retry(depot, first[0].id)


def test_queued_notices_to_a_stopped_link_become_follow_ups_at_the_next_claim(depot, partners, new_order, clock):
    from dispatchdesk.services import set_link_stopped

    n = new_order()
    dispatch(depot, n, "Swift Haulage")
    set_link_stopped(depot, "Swift Haulage", True, "tests")
    assert peek(depot).due
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    with depot.uow(write=False) as uow:
        [notice] = uow.session.scalars(select(Notice)).unique().all()
        assert notice.state == NoticeState.FOLLOW_UP.value
        assert uow.session.scalars(select(FollowUp).where(FollowUp.notice_id == notice.id)).first() is not None
    assert not peek(depot).due


def test_retry_and_skip_by_hand_are_audited_and_checked(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    with pytest.raises(Refused, match="only a failed notice"):
        retry(depot, c.id)  # in flight
    record_result(depot, c.id, "w1", Delivery.failed("HTTP 400: nope"))
    msg = retry(depot, c.id)
    assert "will be sent again" in msg
    row = _notice(depot, c.id)
    assert row["state"] == "queued" and row["attempts"] == 0 and row["next_attempt_at"] == clock.now
    assert ("notice retried", "tester") in _audit_actions(depot)
    [c2] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    record_result(depot, c2.id, "w1", Delivery.failed("HTTP 400: still no"))
    assert "have not been told" in skip(depot, c.id)
    assert _notice(depot, c.id)["state"] == "skipped"
    assert ("notice skipped", "tester") in _audit_actions(depot)
    with pytest.raises(Refused):
        skip(depot, c.id)
    with pytest.raises(Refused):
        retry(depot, c.id)


def test_a_notice_waiting_for_its_next_retry_can_be_retried_now(depot, sent_order, clock):
    [c] = claim_due(depot, "w1", limit=10, lease_seconds=30)
    record_result(depot, c.id, "w1", Delivery.retry("Cannot connect"), policy=NO_JITTER)
    assert claim_due(depot, "w1", limit=10, lease_seconds=30) == []
    retry(depot, c.id)
    assert [x.id for x in claim_due(depot, "w1", limit=10, lease_seconds=30)] == [c.id]


def test_email_and_manual_notices_come_with_follow_ups(depot, partners, new_order):
    """E-mail: the relay sends it, and a follow-up asks a person to confirm it arrived.
    Manual: nothing is sent; the notice is a follow-up from the start."""
    from dispatchdesk.services import cancel

    a = new_order(source="Corner Bakery")  # a client with no link
    set_setting(depot, "undo_seconds", "0")
    trash(depot, a)
    b = new_order(source="Plain Client")
    dispatch(depot, b, "Boxed Fulfilment")  # a warehouse reached by e-mail
    cancel(depot, b, CancellationRequest(ReasonCode.DAMAGED))
    claimed = claim_due(depot, "w1", limit=10, lease_seconds=30)
    assert {(c.kind, c.partner, c.transport.value) for c in claimed} >= {
        ("order.new", "Boxed Fulfilment", "email"),
    }
    assert all(c.partner != "Corner Bakery" for c in claimed)
    with depot.uow(write=False) as uow:
        s = uow.session
        manual = s.scalars(select(Notice).join(Partner).where(Partner.name == "Corner Bakery")).unique().one()
        assert manual.state == "follow-up"
        texts = [f.text for f in s.scalars(select(FollowUp))]
    assert any("Tell Corner Bakery by hand" in t for t in texts)
    assert any(t.startswith("Confirm with Boxed Fulfilment") and "cancellation" in t for t in texts)


def test_claims_come_in_batches_and_respect_the_limit(depot, partners, new_order):
    for _ in range(7):
        dispatch(depot, new_order(), "Swift Haulage")
    a = claim_due(depot, "w1", limit=3, lease_seconds=30)
    b = claim_due(depot, "w2", limit=3, lease_seconds=30)
    c = claim_due(depot, "w3", limit=3, lease_seconds=30)
    assert (len(a), len(b), len(c)) == (3, 3, 1)
    assert len({x.id for x in a + b + c}) == 7
    assert claim_due(depot, "w1", limit=0, lease_seconds=30) == []


def test_outcome_values_are_the_four_results():
    assert {o.value for o in Outcome} == {"sent", "retry", "failed", "gone"}
