"""Issue 8 item 4: a new order taken by phone, read from the form's text and checked with the
one set of checks (services.neworder, setup.check_order), created by the typed action."""

from __future__ import annotations

import pytest

from dispatchdesk.services import (
    CreateOrder,
    InvalidInput,
    LineForm,
    OrderForm,
    check_form,
    queries,
)
from dispatchdesk.services.neworder import match_partner

FULL = OrderForm(
    source="plain",
    partner_ref="PO-7781",
    pickup_address="1 Depot Road, Leeds",
    delivery_address="22 High Street, York",
    pickup_after="14:00",
    deliver_by="tomorrow 10:00",
    parcels="2",
    weight_kg="12,5 kg",
    lines=(LineForm("BOX-S", "small box", "3"), LineForm(), LineForm("PALLET", "", "")),
    tags="fragile, call first",
    note="Ring the bell twice",
)


def test_a_partner_is_picked_by_part_of_its_name() -> None:
    names = ["Corner Bakery", "Northwind Retail", "Plain Client", "Shop Corner"]
    assert match_partner(names, "plain") == ("Plain Client", None)
    assert match_partner(names, "  NORTH ") == ("Northwind Retail", None)
    assert match_partner(names, "corner b") == ("Corner Bakery", None)  # starts so: one
    name, why = match_partner(names, "orne")
    assert name is None and "could be Corner Bakery, Shop Corner" in (why or "")
    assert match_partner(names, "zebra")[0] is None
    assert match_partner(names, "") == (None, None)


def test_the_form_is_read_and_what_was_understood_is_said(depot, partners) -> None:
    check = check_form(depot, FULL)
    assert check.ok, check.problems
    o = check.order
    assert o is not None and o.source == "Plain Client" and o.partner_ref == "PO-7781"
    assert [(ln.article, ln.quantity) for ln in o.lines] == [("BOX-S", 3), ("PALLET", 1)]
    assert o.weight_kg == 12.5 and o.parcels == 2 and o.tags == ["fragile", "call first"]
    assert check.understood["source"].startswith("Plain Client (client)")
    assert check.understood["pickup_after"].endswith("14:00 (today)")
    assert check.understood["deliver_by"].endswith("10:00 (tomorrow)")


def test_every_wrong_field_is_named_under_its_own_name(depot, partners) -> None:
    form = OrderForm(
        source="", partner_ref="X-1", pickup_address=" ", delivery_address="b",
        pickup_after="tomorrow 18:00", deliver_by="tomorrow 9", parcels="two", weight_kg="-3",
        lines=(LineForm("A", "", "1"), LineForm("", "", ""), LineForm("A", "", "0"), LineForm("B", "", "x")),
        phone="call me",
    )
    p = check_form(depot, form).problems
    assert p["customer"] == "An own order needs the customer's name; or name the partner it comes from."
    assert p["phone"].startswith("The phone number may hold digits")
    assert p["partner_ref"] == "Their reference needs the partner it came from (the From field)."
    assert p["pickup_address"] == "The pickup address is empty."
    assert p["deliver_by"] == "Deliver-by is before pickup-after."
    assert p["parcels"] == "Parcels must be a whole number, not 'two'."
    assert p["weight_kg"].startswith("Weight must be a number of kilograms from 0 to")
    # lines are named by their place in the form (the empty second line is skipped)
    assert p["line3"] == "Article 'A' appears twice."
    assert p["line4"] == "Line 4: the quantity must be a whole number, not 'x'."
    bad_time = check_form(depot, OrderForm(pickup_after="soon")).problems["pickup_after"]
    assert bad_time.startswith("Pickup after: 'soon' is not a time I can read; write it like 14:00")
    assert "could be" in check_form(depot, OrderForm(source="r")).problems["source"]


def test_create_order_makes_a_created_inbound_order_taken_by_phone(depot, partners, rows) -> None:
    pv = CreateOrder(FULL).preview(depot)
    assert pv.allowed and pv.title == "Create the new order?" and pv.yes == "Create" and not pv.final
    assert "It comes from Plain Client, their reference PO-7781: an inbound order." in pv.lines
    assert "Lines: BOX-S × 3, PALLET × 1." in pv.lines
    assert pv.lines[-1].startswith("Nobody outside the depot is told")
    result = CreateOrder(FULL).execute(depot)
    assert result.message.startswith(f"Order {result.order} created (Created), taken by phone from Plain Client")
    r = rows(depot, result.order)
    assert r.order.status == "created" and r.order.source.name == "Plain Client"
    assert r.order.partner_ref == "PO-7781" and r.order.weight_kg == 12.5
    assert [t.name for t in r.order.tags] == ["call first", "fragile"]
    assert r.last.action == "taken by phone" and r.last.actor == "tester"
    assert "From Plain Client (their reference PO-7781). Note: Ring the bell twice" in r.last.detail
    assert not r.notices and not r.followups  # nobody outside is told
    assert queries.order_detail(depot, result.order).direction.value == "inbound"


def test_an_own_order_names_its_customer(depot, partners, rows) -> None:
    form = OrderForm(customer="Jane Doe", phone="+44 113 496 0000", pickup_address="A",
                     delivery_address="B")
    result = CreateOrder(form).execute(depot)
    r = rows(depot, result.order)
    assert r.order.source is None
    assert "For Jane Doe, phone +44 113 496 0000." in r.last.detail
    assert queries.order_detail(depot, result.order).direction.value == "own"


def test_a_refused_form_writes_nothing(depot, partners, counts) -> None:
    before = counts(depot)
    form = OrderForm(source="plain", pickup_address="A")
    pv = CreateOrder(form).preview(depot)
    assert not pv.allowed and "The delivery address is empty." in pv.refusals
    with pytest.raises(InvalidInput) as e:
        CreateOrder(form).execute(depot)
    assert e.value.field == "delivery_address"
    assert counts(depot) == before
