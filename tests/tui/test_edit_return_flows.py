"""Issue 8 items 5 and 6 in the console, by keyboard alone: Edit… (e) on a dispatched order
tells the subcontractor; Register return… (r) on a delivered order records it and keeps the
status; a too-late action (trash on a picked-up order) offers the return. Every test reads
the DATABASE afterwards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from textual.widgets import Input
from tui_helpers import board_ready, highlight, make_app, order_row, settle, text_of, wait_for

from dispatchdesk.store.models import Order, Return
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.edit_return import EditForm, ReturnForm
from dispatchdesk.tui.screens.menu import MenuScreen


async def _type(pilot: Any, text: str) -> None:
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


async def _clear(pilot: Any, widget: Input) -> None:
    widget.value = ""
    widget.cursor_position = 0
    await pilot.pause()


def _order(depot: Any, number: str) -> Order:
    with depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).where(Order.number == number)).unique().one()
        _ = o.lines
        uow.session.expunge_all()
        return o


async def test_edit_by_keyboard_lists_old_and_new_and_tells_the_subcontractor(desk: Any) -> None:
    number = desk["dispatched"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "dispatched", number)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditForm) and app.screen.is_mounted, "the edit form")
        form = app.screen
        # tab to Parcels (pickup, delivery, pickup after, deliver by, parcels)
        for _ in range(4):
            await pilot.press("tab")
        assert app.focused is form.query_one("#parcels", Input)
        await _clear(pilot, app.focused)
        await _type(pilot, "5")
        await pilot.press("tab", "tab")  # weight, then the first line
        assert app.focused is form.query_one("#qty-0", Input)
        await _clear(pilot, app.focused)
        await _type(pilot, "4")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the confirm")
        text = text_of(app.screen.query_one("#confirm-lines"))
        assert "Parcels: 3 → 5." in text and "Line BOX-S: 2 → 4." in text
        assert "Swift Haulage will be told over the link (change)." in text
        await pilot.press("y")
        await settle(pilot)
    o = _order(desk.depot, number)
    assert o.parcels == 5 and {ln.article: ln.quantity for ln in o.lines} == {"BOX-S": 4, "PALLET": 1}
    row = order_row(desk.depot, number)
    assert row["status"] == "dispatched"
    assert ("order.changed", "Swift Haulage", "queued") in row["notices"]
    assert row["actions"][-1] == ("edit", "dispatcher")


async def test_edit_with_a_bad_value_stays_open_and_says_why_and_changes_nothing(desk: Any) -> None:
    number = desk["created_own"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditForm) and app.screen.is_mounted, "the edit form")
        await pilot.press("tab", "tab")  # pickup after
        await _type(pilot, "soon")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditForm)
        errors = text_of(app.screen.query_one("#form-errors"))
        assert "'soon' is not a date and time" in errors
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number) == before


async def test_register_return_by_keyboard_keeps_the_status(desk: Any) -> None:
    number = desk["delivered"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "delivered", number)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReturnForm) and app.screen.is_mounted, "the return form")
        # the reason: open the list, pick Damaged
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.press("tab")
        await _type(pilot, "Crushed")
        await pilot.press("tab", "tab")  # number, first line
        await _clear(pilot, app.focused)
        await _type(pilot, "1")
        await pilot.press("tab")
        await _clear(pilot, app.focused)
        await _type(pilot, "0")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the confirm")
        text = text_of(app.screen.query_one("#confirm-lines"))
        assert "Reason: DAMAGED." in text and "Coming back: BOX-S × 1." in text
        await pilot.press("y")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "delivered"
    with desk.depot.uow(write=False) as uow:
        (ret,) = uow.session.scalars(select(Return)).all()
        assert (ret.number, ret.reason, ret.lines, ret.comment) == ("RT-000001", "DAMAGED", {"BOX-S": 1}, "Crushed")


async def test_a_too_late_edit_offers_the_return(desk: Any) -> None:
    number = desk["picked_up"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "picked_up", number)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the offer of a return")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReturnForm) and app.screen.is_mounted, "the return form")
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "picked_up"


async def test_a_too_late_trash_offers_the_return_and_trashes_nothing(desk: Any) -> None:
    number = desk["delivered"]
    before = order_row(desk.depot, number)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "delivered", number)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the offer of a return")
        assert "Handle it as a return" in app.screen.title_text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReturnForm) and app.screen.is_mounted, "the return form")
        await pilot.press("escape")
        await settle(pilot)
    assert order_row(desk.depot, number) == before
