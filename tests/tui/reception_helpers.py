"""Helpers for the reception tests: open reception (key 2), wait for it, put the cursor on an order."""

from __future__ import annotations

from typing import Any

from tui_helpers import settle, wait_for

from dispatchdesk.tui.screens.reception import ReceptionScreen


async def reception_ready(pilot: Any, loads: int = 1) -> ReceptionScreen:
    """Press 2 (if needed) and wait until the table holds what the database holds."""
    if not isinstance(pilot.app.screen, ReceptionScreen):
        await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReceptionScreen)
                   and pilot.app.screen.loads >= loads, "reception to load")
    await _quiet(pilot)
    return pilot.app.screen


async def _quiet(pilot: Any) -> None:
    from textual.worker import WorkerState

    def quiet() -> bool:
        return not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                       and w.group in ("reception", "reception-actions") for w in pilot.app.workers)

    await settle(pilot)
    await wait_for(pilot, quiet, "reception to settle")
    await pilot.pause()


async def go_to(pilot: Any, number: str) -> ReceptionScreen:
    """Put the cursor on `number` with the arrow keys."""
    screen = await reception_ready(pilot)
    numbers = [r.card.number for r in screen.rows]
    assert number in numbers, f"{number} not in {numbers}"
    table = screen.table
    table.focus()
    for _ in range(len(numbers) + 1):
        if screen.row is not None and screen.row.card.number == number:
            break
        await pilot.press("down" if table.cursor_row < numbers.index(number) else "up")
    assert screen.row is not None and screen.row.card.number == number
    await _quiet(pilot)
    return screen
