"""The command pauses Python's collector while the console starts (cli/console.py); the app
turns it back on at the first draw, so a console never runs without it."""

from __future__ import annotations

import gc
from typing import Any

from tui_helpers import board_ready, make_app


async def test_the_collector_paused_at_start_is_on_again_once_the_board_is_drawn(desk: Any) -> None:
    gc.disable()
    try:
        app = make_app(desk)
        async with app.run_test(size=(80, 24)) as pilot:
            await board_ready(pilot)
            assert app.drawn_at is not None
            assert gc.isenabled()
    finally:
        gc.enable()
