"""Helpers for the console's tests: start the app on a seeded depot, wait for it, find cards."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import select
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.worker import WorkerState

from dispatchdesk.services import Depot
from dispatchdesk.store.models import AuditEntry, Notice, Order
from helpers import wait_for


def make_app(desk: Any, **kw: Any) -> Any:
    from dispatchdesk.tui.app import DeskApp

    kw.setdefault("relay", False)
    kw.setdefault("blink", False)
    # who is here (the header's "N here") is read in a thread at its own pace: off unless a
    # test looks at it (tests/tui/test_who_is_here.py), so that the other snapshots stay still
    kw.setdefault("presence", False)
    return DeskApp(desk.depot, **kw)


BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


def _quiet(app: Any) -> bool:
    for w in app.workers:
        if w.state not in BUSY:
            continue
        if w.group in ("board", "pages"):
            return False
        if w.group == "flow" and not isinstance(app.screen, ModalScreen):
            return False
    return True


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the board is loaded and every flow is done or waiting for an answer."""
    await pilot.pause()
    await wait_for(pilot, lambda: _quiet(pilot.app), "the app to settle")
    await pilot.pause()


async def board_ready(pilot: Pilot[Any]) -> None:
    from dispatchdesk.tui.screens.dispatch import DispatchScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DispatchScreen) and pilot.app.screen.drawn,
                   "the board to be drawn")
    await settle(pilot)


def status_list(app: Any, key: str, board: str = "work") -> Any:
    from dispatchdesk.tui.widgets.status_list import StatusList

    return app.screen.query_one(f"#list-{board}-{key}", StatusList)


def card_offset(lst: Any, number: str, row: int = 0) -> tuple[int, int]:
    """Where the card of `number` is, relative to the list widget (for mouse events)."""
    for i, card in enumerate(lst.loaded_cards()):
        if card.number == number:
            index = i
            break
    else:
        raise AssertionError(f"order {number} is not in the list {lst.key}")
    top = lst.content_region.y - lst.region.y  # the title line (top border)
    left = lst.content_region.x - lst.region.x
    return left + 3, top + index * 3 + row - int(lst.scroll_y)


async def highlight(pilot: Pilot[Any], key: str, number: str, board: str = "work") -> Any:
    """Focus the list `key` and put its cursor on `number` (the keyboard way)."""
    lst = status_list(pilot.app, key, board)
    lst.focus()
    await pilot.pause()
    numbers = [c.number for c in lst.loaded_cards()]
    assert number in numbers, f"{number} not in {key}: {numbers}"
    lst.cursor = numbers.index(number)
    await settle(pilot)
    return lst


def order_row(depot: Depot, number: str) -> dict[str, Any]:
    """The order as stored, with its notices and audit actions, read in a fresh session."""
    with depot.uow(write=False) as uow:
        s = uow.session
        o = s.scalars(select(Order).where(Order.number == number)).unique().one()
        notices = s.scalars(select(Notice).where(Notice.order_id == o.id).order_by(Notice.seq)).unique().all()
        audit = s.scalars(select(AuditEntry).where(AuditEntry.order_id == o.id).order_by(AuditEntry.id)).all()
        return {
            "status": o.status,
            "version": o.version,
            "archived": o.archived,
            "assignee": o.assignee.name if o.assignee else None,
            "partner_not_informed": o.partner_not_informed,
            "notices": [(n.kind, n.partner.name, n.state) for n in notices],
            "actions": [(a.action, a.actor) for a in audit],
        }


def text_of(widget: Any) -> str:
    """The plain text a Static shows."""
    import io

    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    plain = getattr(content, "plain", None)
    if isinstance(plain, str):
        return plain
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


def screen_text(app: Any) -> str:
    """Every character on the terminal now (as the compositor draws it, modal screens included)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def key_event(key: str) -> events.Key:
    """The Key event the driver makes of one key (as App._press_keys does)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def burst(pilot: Any, *parts: str) -> None:
    """Keys back to back, none waiting for the one before: a part of one character or more is
    typed character by character, except key names (tab, shift+tab, enter, ctrl+…)."""
    app = pilot.app
    for part in parts:
        keys = [part] if part in ("tab", "shift+tab", "enter") or part.startswith("ctrl+") else list(part)
        for k in keys:
            event = key_event(k)
            event.set_sender(app)
            app._driver.send_message(event)
