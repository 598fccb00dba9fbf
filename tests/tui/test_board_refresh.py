"""Issue 12: a change made elsewhere costs a console little. The board reads the lists again,
but only the lists whose count or visible cards differ are touched (reset, redrawn); the
cursor, the scroll and the selection stay; a card changed elsewhere changes in place; changes
that come while a read is under way make exactly one more read; the keys offered (the footer)
are not worked out again for a change that does not concern the highlighted card."""

from __future__ import annotations

import threading
from typing import Any

from tui_helpers import board_ready, highlight, make_app, settle, status_list, wait_for

from dispatchdesk import services
from dispatchdesk.services import Status

WORK = ("created", "dispatched", "accepted", "picked_up", "delivered")


def _numbers(lst: Any) -> list[str]:
    return [c.number for c in lst.loaded_cards()]


def _count_refreshes(lst: Any) -> list[int]:
    """Count the list's redraws from now on (the list's own refresh() calls)."""
    calls = [0]
    orig = lst.refresh

    def refresh(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        return orig(*a, **kw)

    lst.refresh = refresh
    return calls


async def test_a_change_elsewhere_touches_only_the_lists_it_changes(desk: Any) -> None:
    moved = desk["accepted"]
    app = make_app(desk, poll=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        created = await highlight(pilot, "created", desk["created_own"])
        cursor, card, actions = created.cursor, app.screen.card, app.screen.actions
        assert actions is not None and actions.number == card.number
        generations = {k: status_list(app, k).generation for k in WORK}
        redraws = {k: _count_refreshes(status_list(app, k)) for k in ("created", "dispatched", "delivered")}
        other = desk.other_session()
        services.set_status(other, moved, Status.PICKED_UP)
        other.close()
        picked = status_list(app, "picked_up")
        await wait_for(pilot, lambda: moved in _numbers(picked), "the change on the board")
        await settle(pilot)
        assert moved not in _numbers(status_list(app, "accepted"))
        # the lists the change did not concern: not reset, not redrawn
        for key in ("created", "dispatched", "delivered"):
            assert status_list(app, key).generation == generations[key], key
            assert redraws[key][0] == 0, key
        # the two it did: read again
        assert status_list(app, "accepted").generation != generations["accepted"]
        assert picked.generation != generations["picked_up"]
        # the dispatcher's place is kept, and what the rules allow on the card is not read again
        assert app.screen.active is created and created.cursor == cursor
        assert app.screen.card == card and app.screen.actions is actions


async def test_a_card_changed_elsewhere_changes_in_place_and_the_cursor_stays(desk: Any) -> None:
    number = desk["created_own"]
    app = make_app(desk, poll=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        created = await highlight(pilot, "created", number)
        cursor = created.cursor
        before = app.screen.card
        order = _numbers(created)
        generations = {k: status_list(app, k).generation for k in WORK}
        other = desk.other_session()
        services.set_tags(other, number, add=["fragile"])
        other.close()
        await wait_for(pilot, lambda: app.screen.card is not None and app.screen.card.version != before.version,
                       "the card's new version")
        await settle(pilot)
        assert created.cursor == cursor and app.screen.active is created
        assert app.screen.card.number == number and _numbers(created) == order
        # what the rules allow is read again for the changed card
        await wait_for(pilot, lambda: app.screen.actions is not None
                       and app.screen.actions.version == app.screen.card.version, "its actions")
        for key in WORK[1:]:
            assert status_list(app, key).generation == generations[key], key


async def test_changes_during_a_read_make_exactly_one_more_read(desk: Any, monkeypatch: Any) -> None:
    from dispatchdesk.tui.screens import dispatch as dmod

    app = make_app(desk, poll=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        gate = threading.Event()
        started = threading.Event()
        reads = [0]
        orig = dmod.load_board

        def load_board(*a: Any, **kw: Any) -> Any:
            reads[0] += 1
            started.set()
            gate.wait(10)
            return orig(*a, **kw)

        monkeypatch.setattr(dmod, "load_board", load_board)
        screen = app.screen
        screen.depot_changed()
        await wait_for(pilot, started.is_set, "the first read to begin")
        for _ in range(5):
            screen.depot_changed()
            await pilot.pause()
        gate.set()
        await wait_for(pilot, lambda: reads[0] >= 2, "the reads to end")
        await settle(pilot)
        assert reads[0] == 2


async def test_a_change_elsewhere_leaves_the_keys_offered_alone(desk: Any) -> None:
    moved = desk["accepted"]
    app = make_app(desk, poll=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["created_own"])
        calls = [0]

        def counted(orig: Any) -> Any:
            def refresh_bindings() -> None:
                calls[0] += 1
                orig()
            return refresh_bindings

        app.refresh_bindings = counted(app.refresh_bindings)
        app.screen.refresh_bindings = counted(app.screen.refresh_bindings)
        other = desk.other_session()
        services.set_status(other, moved, Status.PICKED_UP)
        other.close()
        await wait_for(pilot, lambda: moved in _numbers(status_list(app, "picked_up")), "the change")
        await settle(pilot)
        assert calls[0] == 0
