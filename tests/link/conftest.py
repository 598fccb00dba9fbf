"""Fixtures for the link tests: real depots (each its own SQLite file) with real relays
listening on loopback. Helpers live in linkkit.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from linkkit import FAST, Side, open_depot

from dispatchdesk.link.relay import Relay
from dispatchdesk.services import set_setting


@pytest.fixture
async def make_side(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    sides: list[Side] = []

    async def make(name: str, *, undo_seconds: int = 0, **relay_kw: Any) -> Side:
        d = open_depot(tmp_path / f"{name}.sqlite", actor=f"{name.lower()}-dispatcher")
        set_setting(d, "undo_seconds", str(undo_seconds))
        set_setting(d, "depot_name", name)
        relay_kw.setdefault("policy", FAST)
        relay_kw.setdefault("poll_interval", 0.05)
        relay_kw.setdefault("deadline", 3.0)
        relay = Relay(d, listen="127.0.0.1:0", worker_id=f"relay-{name}", **relay_kw)
        await relay.start()
        side = Side(name, d, relay)
        sides.append(side)
        return side

    yield make
    for s in sides:
        await s.relay.stop()
        s.depot.close()




@pytest.fixture
def link_desk(tmp_path: Path) -> Any:
    """A depot with notices in every state and follow-ups, under a clock that stands still."""
    from screenkit import build

    desk = build(tmp_path / "screens.sqlite")
    yield desk
    desk.depot.close()
