"""Who is here, on the console: the header counts the dispatchers on the depot, the order
detail and the confirm name the other consoles that have the same order open, and a console
that ends leaves. Two consoles (two apps, two sessions) run on one depot."""

from __future__ import annotations

from typing import Any

import pytest
from tui_helpers import board_ready, highlight, make_app, screen_text, settle, status_list, wait_for

from dispatchdesk.services import presence
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.detail import OrderDetailScreen
from dispatchdesk.tui.widgets.header import DeskHeader

SMALL = (80, 24)
WIDE = (160, 50)
BEAT = 0.1  # the test clock stands still, so nothing goes stale: beat often, wait less
HOST = presence.this_host()


def _app(desk: Any, depot: Any = None) -> Any:
    app = make_app(desk, presence=True, heartbeat=BEAT)
    if depot is not None:
        app.depot = depot
    return app


def _header(app: Any) -> str:
    return " ".join(h.right for h in app.screen.query(DeskHeader))


async def _open_detail(pilot: Any, number: str, key: str = "created") -> None:
    await highlight(pilot, key, number)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderDetailScreen)
                   and pilot.app.screen.detail is not None, "the detail")


async def test_two_consoles_count_each_other_and_name_who_has_the_order_open(desk: Any) -> None:
    number = desk["created_inbound"]
    other = desk.other_session("anna")
    mine, theirs = _app(desk), _app(desk, other)
    async with mine.run_test(size=SMALL) as me, theirs.run_test(size=SMALL) as you:
        await board_ready(me)
        await board_ready(you)
        await wait_for(me, lambda: "2 here" in _header(mine), "my header to count two consoles")
        await wait_for(you, lambda: "2 here" in _header(theirs), "their header to count two")
        assert "2 here" in screen_text(mine).splitlines()[0]

        # anna opens the order; then I open it too: my detail names her at once
        await _open_detail(you, number)
        await _open_detail(me, number)
        await wait_for(me, lambda: f"Also open at: anna@{HOST}." in screen_text(mine), "my detail to name anna")
        # and hers names me, within her next read
        await wait_for(you, lambda: f"Also open at: {desk.depot.actor}@{HOST}." in screen_text(theirs), "hers to name me")

        # she goes back to the board: my detail stops naming her
        await you.press("escape")
        await wait_for(me, lambda: "Also open at" not in screen_text(mine), "the line to go")

        # the confirm says it too: she opens the order again, I ask to trash it
        await _open_detail(you, number)
        await me.press("t")
        await wait_for(me, lambda: isinstance(mine.screen, ConfirmScreen), "the confirm")
        await wait_for(me, lambda: f"Also open at: anna@{HOST}." in screen_text(mine), "the confirm to name anna")
        await me.press("n")
        await settle(me)

    # both consoles ended: they left (their rows are gone, not merely going stale)
    await wait_for(None, lambda: presence.present(desk.depot) == [], "both consoles to leave", in_thread=True)
    other.close()


async def test_a_console_alone_counts_itself(desk: Any) -> None:
    app = _app(desk)
    async with app.run_test(size=SMALL) as pilot:
        await board_ready(pilot)
        await wait_for(pilot, lambda: "1 here" in _header(app), "the header to say 1 here")
        line = screen_text(app).splitlines()[0]
        assert "Dispatch" in line and "1 here" in line  # at 80 columns the screen's name stays


# --------------------------------------------------------------------------- snapshots
# Another console is here (anna, on the machine depot2) with the order open; this machine is
# called depot1, so that the pictures are the same on every machine.


def _with_anna(desk: Any, monkeypatch: Any, number: str | None) -> Any:
    monkeypatch.setattr(presence, "this_host", lambda: "depot1")
    anna = desk.other_session("anna")
    monkeypatch.setattr(presence, "this_host", lambda: "depot2")
    presence.join(anna, screen="order", open_order=number)
    monkeypatch.setattr(presence, "this_host", lambda: "depot1")
    anna.close()
    return _app(desk)


async def _counted(pilot: Any) -> None:
    await pilot.pause()
    await board_ready(pilot)
    await wait_for(pilot, lambda: "2 here" in _header(pilot.app), "the header to count two")
    await settle(pilot)


def _board(desk: Any, monkeypatch: Any, snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(_with_anna(desk, monkeypatch, None), terminal_size=size, run_before=_counted)


def test_board_header_counts_who_is_here_80x24(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _board(desk, monkeypatch, snap_compare, SMALL)


def test_board_header_counts_who_is_here_160x50(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _board(desk, monkeypatch, snap_compare, WIDE)


def _detail(desk: Any, monkeypatch: Any, snap_compare: Any, size: tuple[int, int]) -> None:
    number = desk["created_inbound"]

    async def run_before(pilot: Any) -> None:
        await _counted(pilot)
        await _open_detail(pilot, number)
        await wait_for(pilot, lambda: "Also open at: anna@depot2." in screen_text(pilot.app), "the detail to name anna")
        await settle(pilot)

    assert snap_compare(_with_anna(desk, monkeypatch, number), terminal_size=size, run_before=run_before)


def test_detail_names_who_else_has_it_open_80x24(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _detail(desk, monkeypatch, snap_compare, SMALL)


def test_detail_names_who_else_has_it_open_160x50(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _detail(desk, monkeypatch, snap_compare, WIDE)


def _confirm(desk: Any, monkeypatch: Any, snap_compare: Any, size: tuple[int, int]) -> None:
    number = desk["created_inbound"]

    async def run_before(pilot: Any) -> None:
        await _counted(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted, "the confirm")
        await wait_for(pilot, lambda: "Also open at: anna@depot2." in screen_text(pilot.app), "the confirm to name anna")
        await settle(pilot)

    assert snap_compare(_with_anna(desk, monkeypatch, number), terminal_size=size, run_before=run_before)


def test_confirm_names_who_else_has_it_open_80x24(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _confirm(desk, monkeypatch, snap_compare, SMALL)


def test_confirm_names_who_else_has_it_open_160x50(snap_compare: Any, desk: Any, monkeypatch: Any) -> None:
    _confirm(desk, monkeypatch, snap_compare, WIDE)


# --------------------------------------------------------------------------- PostgreSQL: pushed


@pytest.mark.postgres
async def test_on_postgresql_another_machines_commit_is_pushed_to_the_board(pg_fresh_url: str, monkeypatch: Any) -> None:
    """The console never polls here (poll=60 s, the safety read put off for an hour): only the
    commit's notification can bring the change in time; the other session has its own
    connections, as a console on another machine."""
    from dispatchdesk import services
    from dispatchdesk.store import Database, listen
    from dispatchdesk.tui.app import DeskApp
    from helpers import Clock

    monkeypatch.setattr(listen, "SAFETY_POLL", 3600.0)
    clock = Clock()
    mine = services.Depot(Database.open(pg_fresh_url), actor="dispatcher", clock=clock)
    number = services.create_order(mine, services.OrderInput(
        pickup_address="1 Depot Road, Leeds", delivery_address="22 High Street, York",
        lines=[services.LineInput("BOX-S", 2, "boxes")]))
    other = services.Depot(Database.open(pg_fresh_url), actor="anna", clock=clock)
    app = DeskApp(mine, relay=False, blink=False, poll=60.0, presence=True, heartbeat=BEAT)
    try:
        async with app.run_test(size=SMALL) as pilot:
            await board_ready(pilot)
            presence.join(other)
            await wait_for(pilot, lambda: "2 here" in _header(app), "the header to count anna")
            services.set_status(other, number, "accepted")
            accepted = status_list(app, "accepted")
            await wait_for(pilot, lambda: number in [c.number for c in accepted.loaded_cards()], "the change")
        assert mine.db.changes.woken_by == "notify"
    finally:
        other.close()
        mine.close()


async def test_a_hostile_name_is_shown_as_plain_text(desk: Any) -> None:
    """A name comes from another machine's environment: shown through the sanitiser, never as
    markup or escape sequences."""
    number = desk["created_inbound"]
    odd = desk.other_session("[b]eve\x1b[31m\x1b]0;pwned\x07[@click=app.quit]")
    presence.join(odd, open_order=number)
    odd.close()
    app = _app(desk)
    async with app.run_test(size=WIDE) as pilot:
        await board_ready(pilot)
        await _open_detail(pilot, number)
        await wait_for(pilot, lambda: "Also open at:" in screen_text(app), "the line")
        line = next(x for x in screen_text(app).splitlines() if "Also open at:" in x)
        assert "[b]eve" in line and "[@click=app.quit]" in line
        assert "\x1b" not in line and "pwned" not in line
        assert app.is_running  # the click markup did not run
