"""A relay worker killed with SIGKILL mid-drain gives up its claims within seconds (a short lease
renewed by a heartbeat while it lives), and nothing is lost, applied twice or reordered
(issue 9 item 8). The 20-kill run is tests/bench/bench_relay_crash.py; here, three kills."""

from __future__ import annotations

from pathlib import Path

from crashkit import crash_run
from linkkit import eventually, make_order, open_depot
from sqlalchemy import select

from dispatchdesk.link.relay import LEASE_SECONDS
from dispatchdesk.services import PartnerInput, add_partner, dispatch, set_setting
from dispatchdesk.services.outbox import claim_due, renew_claims
from dispatchdesk.store.models import Notice


async def test_three_sigkills_mid_drain_lose_nothing_and_recover_within_the_lease(tmp_path: Path) -> None:
    f = await crash_run(tmp_path, kills=3, orders=500)

    assert (f.lost, f.applied_twice, f.reordered) == (0, 0, 0), f.lines()
    assert all(n > 0 for n in f.orphans), f.lines()  # each kill left claims behind
    # the killed worker's claims were taken over once its short lease ran out (not after 60 s);
    # no timed assertion: eventually() above fails after 30 s, the figures are in the bench
    assert len(f.gap_taken_over) == 3 and len(f.gap_next) == 3


def test_the_lease_is_short(tmp_path: Path) -> None:
    assert LEASE_SECONDS <= 5


async def test_a_heartbeat_renews_only_claims_still_held(tmp_path: Path) -> None:
    d = open_depot(tmp_path / "a.sqlite")
    try:
        set_setting(d, "undo_seconds", "0")
        add_partner(d, PartnerInput(name="Bravo", role="subcontractor", url="http://127.0.0.1:9/link",
                                    secret="a-shared-secret-for-the-link-0001"))
        for _ in range(2):
            dispatch(d, make_order(d), "Bravo")
        c1, c2 = claim_due(d, "w1", limit=10, lease_seconds=5)
        assert renew_claims(d, "w1", [c1.id, c2.id], lease_seconds=30) == {c1.id, c2.id}
        assert renew_claims(d, "w2", [c1.id], lease_seconds=30) == set()  # not w2's claim
        with d.uow() as uow:  # c2's lease ran out: another worker may take it, w1 may not renew
            n = uow.session.get(Notice, c2.id)
            n.lease_until = d.now().replace(year=2000)
            uow.commit()
        assert renew_claims(d, "w1", [c1.id, c2.id], lease_seconds=30) == {c1.id}
        [again] = claim_due(d, "w2", limit=10, lease_seconds=5)
        assert again.id == c2.id
        with d.uow(write=False) as uow:
            assert uow.session.scalar(select(Notice.claimed_by).where(Notice.id == c2.id)) == "w2"
    finally:
        d.close()


async def test_a_live_relay_keeps_a_slow_delivery_past_its_lease(make_side) -> None:
    """A delivery that takes longer than the lease stays this worker's: the heartbeat renews
    it, so a second worker never claims it meanwhile."""
    import asyncio

    from linkkit import ScriptedPartner

    from dispatchdesk.link.relay import Relay

    # the delivery takes twice the lease; the lease is long enough that a loaded CI machine's
    # pauses (the heartbeat renews every third of it) do not let it run out
    async def slow(a, n):  # noqa: ANN001, ANN202
        await asyncio.sleep(4.0)
        return 200, {}, '{"ok": true}'

    partner = await ScriptedPartner(answer=slow).start()
    a = await make_side("Alpha", lease_seconds=2.0, deadline=8.0)
    other = Relay(a.depot, worker_id="relay-Alpha-2", lease_seconds=2.0, poll_interval=0.05, deadline=8.0)
    await other.start()
    try:
        add_partner(a.depot, PartnerInput(name="Slow", role="subcontractor", url=partner.url,
                                          secret="a-shared-secret-for-the-link-0001"))
        dispatch(a.depot, make_order(a.depot), "Slow")
        await eventually(lambda: len(partner.arrivals) >= 1, what="the first attempt")
        await eventually(lambda: _states(a.depot) == ["sent"], what="the notice sent", timeout=20)
        assert len(partner.arrivals) == 1  # never delivered twice: the claim was renewed
    finally:
        await other.stop()
        await partner.stop()


def _states(d) -> list[str]:  # noqa: ANN001
    with d.uow(write=False) as uow:
        return list(uow.session.scalars(select(Notice.state)))
