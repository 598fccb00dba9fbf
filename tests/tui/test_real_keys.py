"""Keys and the first frame in a real terminal (tests/tui/real_terminal.py): what only shows
when bytes arrive as a terminal sends them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from real_terminal import Console


def opened(con: Console) -> str:
    """The number of the order whose detail has just opened."""
    m = re.search(rb"Order (DD-\d+) \xc2\xb7", con.read_until(re.compile(rb"Order DD-\d+ \xc2\xb7")))
    assert m is not None
    return m.group(1).decode()


@pytest.fixture
def db(desk: Any) -> Path:
    desk.depot.close()
    return Path(desk.path)


def test_keys_typed_in_a_burst_are_all_applied_in_order(desk: Any, db: Path) -> None:
    """`llll` in one write (as SSH sends keys when the link is slow) moves four lists, not one;
    `hhh` then three back. Each is checked by opening the card the focus landed on."""
    with Console(db) as con:
        con.read_until(b"Created")
        con.type(b"llll")  # Created -> Dispatched -> Accepted -> Picked up -> Delivered
        con.type(b"\r")
        assert opened(con) == desk["delivered"]
        con.type(b"\x1b")
        con.read_until(b"Delivered 1")  # the board again
        con.type(b"hhh")  # Delivered -> Picked up -> Accepted -> Dispatched
        con.type(b"\r")
        assert opened(con) in (desk["dispatched"], desk["dispatched_manual"])

