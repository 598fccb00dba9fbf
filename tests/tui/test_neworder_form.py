"""Issue 8 item 4: a phone order typed end to end with the keyboard alone (`n`, tab, ctrl+s),
checked field by field as it is left; Esc asks before throwing typing away. Every test reads
the DATABASE afterwards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from tui_helpers import board_ready, make_app, settle, text_of, wait_for

from dispatchdesk.services import queries
from dispatchdesk.store.models import AuditEntry, Order
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.neworder import NewOrderScreen


def _count(desk: Any) -> int:
    with desk.depot.uow(write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Order)) or 0)


async def _form(pilot: Any) -> NewOrderScreen:
    await board_ready(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewOrderScreen) and pilot.app.screen.is_mounted, "the new-order form")
    await settle(pilot)
    return pilot.app.screen


async def _type(pilot: Any, text: str, then: str = "tab") -> None:
    await pilot.press(*text, then)
    await pilot.pause()


def _msg(screen: NewOrderScreen, key: str) -> str:
    return text_of(screen.query_one(f"#msg-{key}"))


async def test_a_phone_order_typed_end_to_end_with_the_keyboard(desk: Any) -> None:
    before = _count(desk)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        assert app.focused is form.query_one("#source")
        await _type(pilot, "north")            # part of the partner's name
        await wait_for(pilot, lambda: "Northwind Retail (client)" in _msg(form, "source"), "the partner")
        assert form.query_one("#source").value == "Northwind Retail"  # written out when left
        await _type(pilot, "PO-55")
        await _type(pilot, "5 Mill Lane, Bradford")
        await _type(pilot, "9 Quay Side, Hull")
        await _type(pilot, "14:00")
        await wait_for(pilot, lambda: "14:00 (today)" in _msg(form, "pickup_after"), "what 14:00 means")
        await _type(pilot, "tomorrow 10:00")
        await _type(pilot, "2")
        await _type(pilot, "7,5")
        await _type(pilot, "BOX-S")
        await _type(pilot, "small boxes")
        await _type(pilot, "3", then="ctrl+n")  # a second line
        await _type(pilot, "PALLET")
        await pilot.press("tab")
        await _type(pilot, "1")
        await _type(pilot, "fragile, call first")
        await _type(pilot, "ring twice", then="ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewOrderScreen), "the form to close")
        await settle(pilot)
    assert _count(desk) == before + 1
    with desk.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).order_by(Order.id.desc())).first()
        entry = uow.session.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id)).one()
        assert o.status == "created" and o.source.name == "Northwind Retail" and o.partner_ref == "PO-55"
        assert o.pickup_address == "5 Mill Lane, Bradford" and o.delivery_address == "9 Quay Side, Hull"
        assert o.parcels == 2 and o.weight_kg == 7.5
        assert [(ln.article, ln.description, ln.quantity) for ln in o.lines] == [
            ("BOX-S", "small boxes", 3), ("PALLET", "", 1)]
        assert sorted(t.name for t in o.tags) == ["call first", "fragile"]
        now = desk.clock()
        assert o.pickup_after.hour == 14 and o.pickup_after.date() == now.date()
        assert o.deliver_by.hour == 10 and (o.deliver_by.date() - now.date()).days == 1
        assert entry.action == "taken by phone" and entry.actor == "dispatcher"
        assert "Note: ring twice" in entry.detail
        number = o.number
    assert queries.order_detail(desk.depot, number).direction.value == "inbound"


async def test_fields_are_checked_as_they_are_left_and_save_names_every_problem(desk: Any) -> None:
    before = _count(desk)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        await pilot.press("tab", "tab")       # From left empty (own order), customer left empty
        await _type(pilot, "call me")         # phone
        await wait_for(pilot, lambda: "The phone number may hold digits" in _msg(form, "phone"), "the phone check")
        assert "customer's name" in _msg(form, "customer")  # left: checked
        assert _msg(form, "pickup_address") == ""             # not reached yet: no error
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "The delivery address is empty." in _msg(form, "delivery_address"),
                       "every problem")
        summary = text_of(form.query_one("#form-errors"))
        assert "problems to put right before saving" in summary and "The pickup address is empty." in summary
        assert app.focused is form.query_one("#customer")  # the first problem has the cursor
        assert form.query_one("#phone").value == "call me"  # what was typed is kept
        # a fixed problem goes away as it is typed
        await pilot.press(*"Jane Doe")
        await wait_for(pilot, lambda: "customer's name" not in _msg(form, "customer"), "the fix")
        # Esc asks first; No goes back with everything typed
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the question")
        assert "Throw away the new order?" in text_of(app.screen.query_one(".dialog-title"))
        assert app.focused is app.screen.query_one("#no")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, "the form again")
        assert form.query_one("#customer").value == "Jane Doe"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.is_mounted, "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ConfirmScreen, NewOrderScreen)), "closed")
        # an empty form closes without asking
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewOrderScreen) and app.screen.is_mounted, "the form")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewOrderScreen), "closed at once")
    assert _count(desk) == before


async def test_lines_are_added_and_removed_with_keys(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        await pilot.press("ctrl+n", *"A", "ctrl+n", *"B", "ctrl+n", *"C")
        await pilot.pause()
        assert [ln.article for ln in form.form().lines] == ["", "A", "B", "C"]
        form.query_one("#article-2").focus()     # B
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert [ln.article for ln in form.form().lines] == ["", "A", "C"]
        assert app.focused is form.query_one("#article-3")  # the line after it
        assert [text_of(x) for x in form.query(".line-number")] == ["Line 1", "Line 2", "Line 3"]


async def test_the_palette_opens_the_form_and_an_own_order_names_its_customer(desk: Any) -> None:
    from textual.command import CommandPalette

    before = _count(desk)
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen.is_mounted, "the palette")
        await pilot.press(*"new order")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewOrderScreen) and app.screen.is_mounted, "the form from the palette")
        form = app.screen
        await settle(pilot)
        await pilot.press("tab")                    # From left empty: an own order
        await _type(pilot, "Jane Doe")
        await wait_for(pilot, lambda: "an own order" in _msg(form, "source"), "what an empty From means")
        await _type(pilot, "0113 496 0000")
        await pilot.press("tab")                    # no reference
        await _type(pilot, "1 Depot Road")
        await _type(pilot, "2 Station Road", then="ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewOrderScreen), "saved")
        await settle(pilot)
    assert _count(desk) == before + 1
    with desk.depot.uow(write=False) as uow:
        o = uow.session.scalars(select(Order).order_by(Order.id.desc())).first()
        assert o.source is None and o.delivery_address == "2 Station Road"
        entry = uow.session.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id)).one()
        assert entry.action == "taken by phone" and "For Jane Doe, phone 0113 496 0000." in entry.detail
