"""The suite's one test clock and its one wait: every test folder uses these.

- :class:`Clock` stands still until the test moves it; give it to a depot
  (``Depot(db, clock=Clock())``) and times, ages and undo windows are the test's to decide.
- :func:`wait_for` awaits a condition instead of sleeping: it asks ``check`` again and again
  until it holds, letting the app (with a ``pilot``) or the event loop (the relay, a server)
  run in between, and returns what ``check`` returned. A check that reads the database while
  the loop serves a relay runs in a thread (``in_thread=True``). The timeout only bounds a
  failing wait, and a failure says what it waited for and what it last saw.

Importable as ``helpers`` from any test: pytest puts ``tests/`` on the path for its
conftest.py. Nothing here imports textual at run time.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from textual.pilot import Pilot

T = TypeVar("T")

#: Where every test clock starts (a Friday morning, so that ages and times read naturally).
START = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)

#: Long enough for a loaded machine; only a failing wait ever lasts this long.
TIMEOUT = 15.0


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now = self.now + timedelta(seconds=seconds)
        return self.now


async def wait_for(
    pilot: Pilot[Any] | None,
    check: Callable[[], T | Awaitable[T]],
    what: str = "",
    *,
    in_thread: bool = False,
    timeout: float = TIMEOUT,
    interval: float | None = None,
) -> T:
    """Wait until ``check()`` returns something truthy, and return it.

    With a ``pilot`` the app runs between tries (``pilot.pause``); without one the event loop
    does (``asyncio.sleep``). ``check`` may be a coroutine function. ``in_thread`` runs it in a
    worker thread, for checks that block (a database read) while the loop has work to do.
    """
    step = interval if interval is not None else (0.02 if pilot is not None else 0.05)
    deadline = time.monotonic() + timeout
    while True:
        last: Any = await asyncio.to_thread(check) if in_thread else check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what or check}; last value: {last!r}"
            )
        if pilot is not None:
            await pilot.pause(step)
        else:
            await asyncio.sleep(step)
