"""The suite's clock and wait (tests/helpers.py) do what the tests rely on."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from helpers import START, Clock, wait_for


def test_the_clock_stands_still_until_moved() -> None:
    clock = Clock()
    assert clock() == clock() == START
    assert clock.advance(90) == START + timedelta(seconds=90) == clock()


async def test_wait_for_returns_what_the_check_returned_once_it_holds() -> None:
    seen: list[int] = []

    def check() -> list[int] | None:
        seen.append(len(seen))
        return seen if len(seen) >= 3 else None

    assert await wait_for(None, check, "three tries") == [0, 1, 2]


async def test_wait_for_lets_the_loop_run_and_awaits_an_async_check() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_soon(done.set)

    async def check() -> bool:
        return done.is_set()

    assert await wait_for(None, check, "the event") is True


async def test_wait_for_in_a_thread_runs_the_check_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    where = await wait_for(None, threading.get_ident, in_thread=True)
    assert where != loop_thread


async def test_wait_for_fails_saying_what_it_waited_for_and_last_saw() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the impossible; last value: 0"):
        await wait_for(None, lambda: 0, "the impossible", timeout=0.05)
