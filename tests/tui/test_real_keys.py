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
        # the burst is sent once a card has the focus (its keys are on the key line): the first
        # list may take the focus a moment after it is drawn on a loaded machine
        con.read_until(b"Status")
        con.type(b"llll")  # Created -> Dispatched -> Accepted -> Picked up -> Delivered
        con.type(b"\r")
        assert opened(con) == desk["delivered"]
        con.type(b"\x1b")
        con.read_until(b"Delivered 1")  # the board again
        con.type(b"hhh")  # Delivered -> Picked up -> Accepted -> Dispatched
        con.type(b"\r")
        assert opened(con) in (desk["dispatched"], desk["dispatched_manual"])


_CUP = re.compile(rb"\x1b\[(\d+);(\d+)H")


def first_row_of(output: bytes, needle: bytes) -> int:
    """The terminal row (1-based) where `needle` is first written in `output`: the row of the
    last cursor move before it (Textual moves the cursor to each line it writes)."""
    at = output.index(needle)
    moves = list(_CUP.finditer(output, 0, at))
    assert moves, output[:at][-300:]
    return int(moves[-1].group(1))


def test_the_context_menu_is_drawn_where_it_belongs_on_its_first_frame(db: Path) -> None:
    """A right-click on a card: the menu's very first frame is at the pointer, never at the top
    left first (a quick click would land on the wrong thing)."""
    with Console(db) as con:
        con.read_until(b"Created")
        con.read_until(b"DD-000001")
        start = len(con.output)
        # the right button, pressed and released on the first card (SGR mouse, 1-based x;y)
        con.type(b"\x1b[<2;6;6M\x1b[<2;6;6m")
        con.read_until(b"Order DD-000001")
        row = first_row_of(con.output[start:], b"Order DD-000001")
        assert row >= 6, f"the menu's title was first drawn on row {row}, above the pointer (row 6)"
