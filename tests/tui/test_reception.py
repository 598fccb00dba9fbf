"""Order reception (key 2) driven like a dispatcher would, from the keyboard (and the mouse
where the issue names it). Every test asserts on the DATABASE afterwards, read in a fresh
session, not only on the screen."""

from __future__ import annotations

from typing import Any

from reception_helpers import _quiet, go_to, reception_ready
from sqlalchemy import select
from textual.widgets import Input, OptionList
from tui_helpers import board_ready, make_app, order_row, screen_text, settle, text_of, wait_for

from dispatchdesk import services
from dispatchdesk.services import LineInput, OrderInput, PartnerInput, add_partner, create_order
from dispatchdesk.store.models import Notice, Order
from dispatchdesk.tui.screens.confirm import ConfirmScreen
from dispatchdesk.tui.screens.menu import MenuScreen
from dispatchdesk.tui.screens.reject import RefuseRequestForm, RejectForm


def notices(depot: Any, number: str) -> list[Notice]:
    with depot.uow(write=False) as uow:
        s = uow.session
        oid = s.scalar(select(Order.id).where(Order.number == number))
        rows = list(s.scalars(select(Notice).where(Notice.order_id == oid).order_by(Notice.seq)).unique())
        for n in rows:
            _ = n.partner
        s.expunge_all()
        return rows


async def confirm_shown(pilot: Any) -> ConfirmScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted, "the confirm")
    return pilot.app.screen


# --------------------------------------------------------------------------- the list


async def test_key_2_opens_reception_newest_first_with_every_column(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await reception_ready(pilot)
        numbers = [r.card.number for r in screen.rows]
        assert numbers[0] == desk["odd"] and numbers[-1] == desk["created_inbound"]
        assert desk["archived"] not in numbers
        shown = screen_text(app)
        assert "Reception" in shown and "REF-013" in shown and "Northwind" in shown
        # hostile text from a partner is shown literally, never as control sequences
        assert "\x1b" not in shown and "pwned" not in shown


async def test_filters_quick_needs_a_decision_partner_and_text(desk: Any) -> None:
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await reception_ready(pilot)
        await pilot.press("f")
        await _quiet(pilot)
        numbers = {r.card.number for r in screen.rows}
        assert desk["requested"] in numbers and desk["created_inbound"] in numbers
        assert desk["accepted"] not in numbers and desk["delivered"] not in numbers
        await pilot.press("escape")
        await _quiet(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the partner menu")
        options = app.screen.query_one(OptionList)
        while "Corner Bakery" not in str(options.get_option_at_index(options.highlighted).prompt):
            await pilot.press("down")
        await pilot.press("enter")
        await _quiet(pilot)
        assert {r.card.number for r in screen.rows} == {desk["dispatched_manual"], desk["cancelled"]}
        await pilot.press("escape")
        await _quiet(pilot)
        await pilot.press("slash")
        await pilot.press(*"REF-009")
        await _quiet(pilot)
        assert [r.card.number for r in screen.rows] == [desk["invoiced"]]
        assert isinstance(app.focused, Input)


# --------------------------------------------------------------------------- the Start menu


async def test_start_menu_shows_every_item_and_the_refused_ones_with_the_reason(desk: Any) -> None:
    number = desk["delivered"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the Start menu")
        items = {i.id: i for i in app.screen.items}
        assert list(items)[:6] == ["open", "accept", "delete", "reject", "refuse", "cancel"]
        assert {"duplicate", "archive", "tags"} <= set(items)
        assert items["accept"].refused and "Delivered" in items["accept"].refused
        assert items["delete"].refused and "Handle it as a return" in items["delete"].refused
        assert items["refuse"].refused == f"Order {number} has no cancellation request to refuse."
        assert items["open"].refused is None and items["duplicate"].refused is None
        options = app.screen.query_one(OptionList)
        assert options.get_option("accept").disabled and options.get_option("delete").disabled
        await pilot.press("escape")
        await settle(pilot)
        # the keys say why, and change nothing
        await pilot.press("delete")
        await settle(pilot)
        assert any("Handle it as a return" in str(n.message) for n in app._notifications)
    assert order_row(desk.depot, number)["status"] == "delivered"


async def test_right_click_opens_the_start_menu_and_accept_from_it(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await reception_ready(pilot)
        row = [r.card.number for r in screen.rows].index(number)
        await pilot.click(screen.table, offset=(3, 1 + row), button=3)
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the Start menu")
        assert app.screen.title_text.startswith(f"Order {number}")
        options = app.screen.query_one(OptionList)
        options.highlighted = options.get_option_index("accept")
        await pilot.press("enter")
        confirm = await confirm_shown(pilot)
        assert confirm.title_text == f"Accept order {number}?"
        await pilot.press("y")
        await _quiet(pilot)
        assert order_row(desk.depot, number)["status"] == "accepted"


async def test_delete_yes_rejects_and_tells_the_client_no_changes_nothing(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("delete")
        await confirm_shown(pilot)
        await pilot.press("n")
        await _quiet(pilot)
        assert order_row(desk.depot, number)["status"] == "created"
        assert notices(desk.depot, number) == []
        await pilot.press("delete")
        confirm = await confirm_shown(pilot)
        shown = screen_text(app)
        assert f"Delete order {number}?" in shown and "Northwind Retail" in shown
        assert confirm is app.screen
        await pilot.press("y")
        await _quiet(pilot)
    assert order_row(desk.depot, number)["status"] == "rejected"
    [n] = notices(desk.depot, number)
    assert (n.partner.name, n.kind) == ("Northwind Retail", "order.rejected")


async def test_delete_a_client_order_told_by_hand_makes_the_follow_up(desk: Any) -> None:
    """Corner Bakery has no link: its workflow is a follow-up for a person (SPEC 4.3)."""
    from dispatchdesk.store.models import FollowUp

    number = services.create_order(desk.depot, OrderInput(
        pickup_address="1 Road, Leeds", delivery_address="2 Road, York", source="Corner Bakery",
        partner_ref="CB-99", lines=[LineInput("BOX", 1, "box")]))
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("delete")
        await confirm_shown(pilot)
        await pilot.press("y")
        await _quiet(pilot)
    assert order_row(desk.depot, number)["status"] == "rejected"
    with desk.depot.uow(write=False) as uow:
        oid = uow.session.scalar(select(Order.id).where(Order.number == number))
        texts = list(uow.session.scalars(select(FollowUp.text).where(FollowUp.order_id == oid)))
    assert texts and "Corner Bakery" in texts[0]


# --------------------------------------------------------------------------- Reject…


async def test_reject_with_a_message_to_the_buyer(desk: Any) -> None:
    """The message goes in the notice's payload and in the e-mail; the confirm repeats it."""
    from dispatchdesk.link.transports import SmtpSettings, email_message
    from dispatchdesk.services.outbox import ClaimedNotice

    add_partner(desk.depot, PartnerInput(name="Mail Shop", role="client", email="orders@mail.example",
                                         reject_reason="NOT_IN_STOCK"))
    number = create_order(desk.depot, OrderInput(
        pickup_address="1 Road, Leeds", delivery_address="2 Road, York", source="Mail Shop",
        partner_ref="MS-1", lines=[LineInput("MUG", 2, "mug")]))
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RejectForm) and app.screen.is_mounted, "the reject dialog")
        form = app.screen
        checks = text_of(form.query_one("#reject-checks"))
        assert checks.count("✓") == 4 and "passed" in checks
        assert form.query_one("#reason").value == "NOT_IN_STOCK"  # the partner's default
        await pilot.press("tab")  # to the switch (on: the buyer is told)
        await pilot.press("tab")  # to the message
        await pilot.press(*"Sorry, out of stock")
        await pilot.press("ctrl+s")
        await confirm_shown(pilot)
        shown = screen_text(app)
        assert "The message that goes with it: Sorry, out of stock" in shown
        assert "Reason code: NOT_IN_STOCK." in shown
        await pilot.press("y")
        await _quiet(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "rejected"
    [n] = notices(desk.depot, number)
    assert n.kind == "order.rejected" and n.transport == "email"
    assert n.payload["message"] == "Sorry, out of stock" and n.payload["reason"] == "NOT_IN_STOCK"
    claimed = ClaimedNotice(n.id, n.kind, n.payload, n.transport, 0, n.seq, number, "Mail Shop", None, None,
                            "orders@mail.example", n.created_at, n.created_at)
    body = email_message(claimed, SmtpSettings(None, 25, None, "Our depot")).get_content()
    assert "Message: Sorry, out of stock" in body and "Reason: NOT_IN_STOCK" in body


async def test_reject_with_the_switch_off_tells_nobody_and_no_on_the_confirm_goes_back(desk: Any) -> None:
    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RejectForm) and app.screen.is_mounted, "the reject dialog")
        await pilot.press("tab")
        await pilot.press("space")  # notify the buyer: off
        assert not app.screen.query_one("#message").display
        await pilot.press("ctrl+s")
        await confirm_shown(pilot)
        assert "Northwind Retail will NOT be told" in screen_text(app)
        await pilot.press("n")  # back to the dialog, the switch still off
        await wait_for(pilot, lambda: isinstance(app.screen, RejectForm) and app.screen.is_mounted, "the dialog again")
        assert app.screen.choice().notify_buyer is False
        assert order_row(desk.depot, number)["status"] == "created"
        await pilot.press("ctrl+s")
        await confirm_shown(pilot)
        await pilot.press("y")
        await _quiet(pilot)
    row = order_row(desk.depot, number)
    assert row["status"] == "rejected" and row["partner_not_informed"]
    assert notices(desk.depot, number) == []


async def test_reject_dialog_shows_the_failed_checks_and_rejects_nothing(desk: Any) -> None:
    number = desk["invoiced"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RejectForm) and app.screen.is_mounted, "the reject dialog")
        checks = text_of(app.screen.query_one("#reject-checks"))
        assert "✗ No delivery note or invoice references it: failed" in checks
        assert checks.count("✓") == 3
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RejectForm)  # refused: it stays, naming the check
        assert "is referenced by an invoice" in text_of(app.screen.query_one("#form-errors"))
        await pilot.press("escape")
        await _quiet(pilot)
    assert order_row(desk.depot, number)["status"] == "created"


async def test_reject_is_on_the_dispatch_menu(desk: Any) -> None:
    from tui_helpers import board_ready, highlight

    number = desk["created_inbound"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", number)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, MenuScreen) and app.screen.is_mounted, "the menu")
        ids = [i.id for i in app.screen.items]
        assert "reject" in ids and "refuse" in ids
        options = app.screen.query_one(OptionList)
        options.highlighted = options.get_option_index("reject")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RejectForm) and app.screen.is_mounted, "the reject dialog")
        await pilot.press("ctrl+s")
        await confirm_shown(pilot)
        await pilot.press("y")
        await settle(pilot)
    assert order_row(desk.depot, number)["status"] == "rejected"


# --------------------------------------------------------------------------- Refuse cancellation request…


async def test_refuse_a_cancellation_request(desk: Any) -> None:
    number = desk["requested"]
    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await go_to(pilot, number)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, RefuseRequestForm) and app.screen.is_mounted, "the refuse dialog")
        await pilot.press("enter")  # no message: refused by the services, the dialog says why
        await wait_for(pilot, lambda: isinstance(app.screen, RefuseRequestForm) and app.screen.problem,
                       "the dialog with the problem")
        assert "Say why" in app.screen.problem
        await pilot.press(*"Already loaded")
        await pilot.press("enter")
        await confirm_shown(pilot)
        assert "The answer that goes with it: Already loaded" in screen_text(app)
        await pilot.press("y")
        await _quiet(pilot)
    assert order_row(desk.depot, number)["status"] == "created"
    with desk.depot.uow(write=False) as uow:
        assert uow.session.scalar(select(Order.cancellation_requested).where(Order.number == number)) is False
    refused = [n for n in notices(desk.depot, number) if n.kind == "order.cancel_request_refused"]
    assert refused and refused[0].payload["message"] == "Already loaded"


async def test_refuse_request_is_in_the_palette_of_both_screens(desk: Any) -> None:
    from tui_helpers import board_ready, highlight

    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        await highlight(pilot, "created", desk["requested"])
        names = [name for name, _, _ in app.screen.palette_commands()]
        assert any(name.startswith("Refuse the cancellation request") for name in names)
        assert any(name.startswith("Reject order") for name in names)
        await go_to(pilot, desk["requested"])
        names = [name for name, _, _ in app.screen.palette_commands()]
        assert any(name.startswith("Refuse the cancellation request") for name in names)
        names = [name for name, _, _ in app.palette_commands()]
        assert any("reception" in name.lower() for name in names)


async def test_saved_views_on_reception(desk: Any) -> None:
    """Issue 8, item 8: a view saved on Reception keeps its text and quick filter, and shows
    again after the filters were cleared."""
    from textual.widgets import OptionList

    from dispatchdesk.services.views import ViewFilter, saved_views
    from dispatchdesk.tui.screens.menu import MenuScreen
    from dispatchdesk.tui.screens.name import NameScreen

    async def choose(item_id: str) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MenuScreen) and pilot.app.screen.is_mounted, "the views menu")
        options = pilot.app.screen.query_one(OptionList)
        target = options.get_option_index(item_id)
        while options.highlighted != target:
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)

    app = make_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await board_ready(pilot)
        screen = await reception_ready(pilot)
        await pilot.press("f")  # needs a decision
        await pilot.press("slash", *"North", "enter")
        await _quiet(pilot)
        assert (screen.flt.text, screen.flt.quick) == ("North", "decide")
        await pilot.press("v")
        await choose("save")
        await wait_for(pilot, lambda: isinstance(app.screen, NameScreen) and app.screen.is_mounted, "the name dialog")
        await pilot.press(*"North to decide", "enter")
        await settle(pilot)
        assert [(v.name, v.filter) for v in saved_views(desk.depot)] == [
            ("North to decide", ViewFilter("North", "decide"))]
        await pilot.press("escape")  # clear the filters
        await _quiet(pilot)
        assert (screen.flt.text, screen.flt.quick) == ("", "")
        await pilot.press("v")
        await choose("v0")
        await _quiet(pilot)
        assert (screen.flt.text, screen.flt.quick) == ("North", "decide")
