"""The new-order form takes keys typed in a burst (as SSH sends them on a slow link): every key
lands, in order, in the field it was meant for; Tab skips Customer and Phone (own orders only)
while From names a partner, and brings them back when From is emptied.

`pilot.press` waits for the app to go idle after every key, so it never shows the race: `burst`
posts the keys back to back, as the terminal driver does when one read holds them all. The last
test sends them in one write to the real program in a pseudo-terminal and reads the saved order
from the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from real_terminal import Console
from tui_helpers import board_ready, burst, make_app, settle, wait_for

from dispatchdesk.services import queries
from dispatchdesk.tui.screens.neworder import NewOrderScreen

ADDRESSES = ("source", "customer", "phone", "partner_ref", "pickup_address", "delivery_address")


async def _form(pilot: Any) -> NewOrderScreen:
    await board_ready(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewOrderScreen) and pilot.app.screen.is_mounted, "the new-order form")
    await settle(pilot)
    return pilot.app.screen


def _values(form: NewOrderScreen) -> dict[str, str]:
    return {key: form.query_one(f"#{key}").value for key in ADDRESSES}


async def test_a_burst_for_a_partners_order_lands_in_the_fields_it_was_meant_for(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        burst(pilot, "North", "tab", "REF-PHONE-1", "tab", "1 Mill Lane, Leeds", "tab", "2 Quay, Hull", "tab")
        await wait_for(pilot, lambda: app.focused is form.query_one("#pickup_after"), "four fields on")
        await settle(pilot)
        await wait_for(pilot, lambda: form.query_one("#source").value == "Northwind Retail", "the partner")
        assert _values(form) == {
            "source": "Northwind Retail", "customer": "", "phone": "",
            "partner_ref": "REF-PHONE-1", "pickup_address": "1 Mill Lane, Leeds", "delivery_address": "2 Quay, Hull",
        }


async def test_a_burst_for_an_own_order_fills_customer_and_phone(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        burst(pilot, "tab", "Jane Doe", "tab", "0113 496 0000", "enter", "tab", "1 Depot Road", "enter",
              "2 Station Road", "shift+tab", "shift+tab", "ctrl+e", "!")
        await wait_for(pilot, lambda: app.focused is form.query_one("#partner_ref"), "back to the reference")
        await settle(pilot)
        assert _values(form) == {
            "source": "", "customer": "Jane Doe", "phone": "0113 496 0000",
            "partner_ref": "!", "pickup_address": "1 Depot Road", "delivery_address": "2 Station Road",
        }


async def test_a_burst_adding_lines_types_each_into_its_own_line(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        burst(pilot, "ctrl+n", "A", "ctrl+n", "B", "tab", "bee", "ctrl+n", "C", "ctrl+r", "tab", "x")
        # C's line is removed (the cursor was on it): the cursor goes to B's, tab to its description
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "description-2"
                       and app.focused.value == "beex", "the lines")
        await settle(pilot)
        assert [(ln.article, ln.description) for ln in form.form().lines] == [("", ""), ("A", ""), ("B", "beex")]


async def test_customer_and_phone_are_skipped_while_from_names_a_partner(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        customer, phone = form.query_one("#customer"), form.query_one("#phone")
        await pilot.press(*"shop", "tab")
        assert app.focused is form.query_one("#partner_ref")
        assert customer.disabled and phone.disabled
        await pilot.press("shift+tab")         # back to From, past the two skipped fields
        assert app.focused is form.query_one("#source")
        await pilot.press("ctrl+u", "ctrl+k")  # From emptied: an own order again
        await pilot.press("tab")
        assert app.focused is customer and not customer.disabled and not phone.disabled
        await pilot.press("shift+tab", *"no such partner", "tab")  # not a partner: still asked for
        assert app.focused is customer


def test_a_burst_in_a_real_terminal_saves_the_order_that_was_meant(desk: Any) -> None:
    """The whole form in one write, ctrl+s included; the saved order is read back."""
    before = set(queries.order_numbers(desk.depot))
    desk.depot.close()
    with Console(Path(desk.path)) as con:
        con.read_until(b"Created")
        con.type(b"n")
        con.read_until(b"taken by phone")
        con.type(b"North\tREF-PHONE-1\t1 Mill Lane, Leeds\t2 Quay, Hull\t\x13")
        depot = desk.other_session()
        deadline = time.monotonic() + 30
        new: set[str] = set()
        while not new and time.monotonic() < deadline:
            con.read(0.2)
            new = set(queries.order_numbers(depot)) - before
        assert len(new) == 1, f"no order was saved; the screen: {con.text()[-1500:]!r}"
        o = queries.order_detail(depot, new.pop())
        depot.close()
    assert (o.source, o.partner_ref, o.pickup_address, o.delivery_address) == (
        "Northwind Retail", "REF-PHONE-1", "1 Mill Lane, Leeds", "2 Quay, Hull")
