"""Benchmark of issue 7: the console stays live while another program holds the write lock.

    .venv/bin/python tests/bench/bench_lock.py [--seconds S] [--presses N]

One console (80x24, headless, under the Pilot) on the seeded depot of the console's tests
(tests/tui/conftest.py `seed`), in one run:

1. Baseline, no lock: N focus-moving key presses on the dispatch board (`l` and `h` in turn),
   each timed from the start of `await pilot.press(k)` until the screen's active list has
   changed (the Pilot's own waits for idle included), and, inside that, from the start to the
   moment the focus moved (a watcher on `screen.focused`). A timer installed on the app
   (`set_interval(0.05)`) gives the largest gap between its ticks (the event loop) and the
   largest delay of a `call_later` it posts (the app's message queue).
2. Locked: a second connection holds the write lock (`BEGIN IMMEDIATE`) for --seconds; the
   console trashes a Created order (t, then y), which waits for the lock and says
   services.WAITING; the same N key presses, spread over the lock, the same timer, and the
   header's own half-second update counted. Then the lock goes, and a thread polling the
   database from its own connection times release -> trash committed.

Targets (exit 1 on a miss): key p99 with the lock under 100 ms and at most 3x the p99 without
it; the trash waits (the screen says so), nothing is written before the release, the order is
Rejected after it. The largest loop gap with the lock (target under 100 ms) is printed with
its verdict but fails the run only with --strict-gap: on 2 shared, loaded CPUs a single
scheduling hiccup of the whole process reaches it with or without a lock (compare the
baseline's figure printed next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
# helpers.py (Clock, wait_for) and tui_helpers.py, as the console's tests import them
for p in (TESTS, TESTS / "tui"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

KEY_P99_MS = 100.0
KEY_RATIO = 3.0
GAP_MS = 100.0
TICK = 0.05
PRESS_TIMEOUT = 5.0

# ----------------------------------------------------------------------------- the depot


def load_seed() -> Any:
    """tests/tui/conftest.py as a module of its own (its `seed` and Desk)."""
    spec = importlib.util.spec_from_file_location("tui_conftest", TESTS / "tui" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    return mod


def build_desk(work: Path) -> Any:
    from dispatchdesk.services import Depot
    from dispatchdesk.store import Database
    from helpers import Clock

    conf = load_seed()
    clock = Clock()
    path = work / "depot.sqlite"
    depot = Depot(Database.open(path), actor="dispatcher", clock=clock)
    numbers = conf.seed(depot, clock)
    return conf.Desk(depot, clock, path, numbers)


def order_state(con: sqlite3.Connection, number: str) -> tuple[str, int, int]:
    """(status, version, audit entries) of the order, read by `con`."""
    row = con.execute(
        "SELECT o.status, o.version, (SELECT count(*) FROM audit a WHERE a.order_id = o.id) "
        "FROM orders o WHERE o.number = ?", (number,)).fetchone()
    return str(row[0]), int(row[1]), int(row[2])


# ----------------------------------------------------------------------------- probes


class LoopProbe:
    """A timer on the app every TICK s: when each tick ran (the event loop), and how long a
    `call_later` posted from it waited for the app's message queue."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ticks: list[float] = []
        self.queued: list[tuple[float, float]] = []
        self.timer = app.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        t = time.perf_counter()
        self.ticks.append(t)
        self.app.call_later(self._queued, t)

    def _queued(self, t: float) -> None:
        self.queued.append((t, time.perf_counter() - t))

    def window(self, a: float, b: float) -> dict[str, Any]:
        ticks = [t for t in self.ticks if a <= t <= b]
        gaps = [(y - x, x - a) for x, y in zip(ticks, ticks[1:], strict=False)]
        delays = [d for t, d in self.queued if a <= t <= b]
        return {"ticks": len(ticks), "gap_ms": max(g for g, _ in gaps) * 1000,
                "gap_p50_ms": statistics.median(g for g, _ in gaps) * 1000,
                "worst": [(g * 1000, at) for g, at in sorted(gaps, reverse=True)[:3]],
                "queue_ms": max(delays, default=math.nan) * 1000}


class HeaderProbe:
    """Counts the header's own half-second updates (it shows the time): patched on the class
    before the app starts, since the header binds its `_update` when it is mounted."""

    def __init__(self) -> None:
        from dispatchdesk.tui.widgets.header import DeskHeader

        self.cls = DeskHeader
        self.orig = DeskHeader._update
        self.times: list[float] = []
        probe = self

        def counted(header: Any) -> None:
            probe.times.append(time.perf_counter())
            probe.orig(header)

        DeskHeader._update = counted  # type: ignore[method-assign]

    def restore(self) -> None:
        self.cls._update = self.orig  # type: ignore[method-assign]

    def window(self, a: float, b: float) -> tuple[int, float]:
        ts = [t for t in self.times if a <= t <= b]
        gaps = [y - x for x, y in zip(ts, ts[1:], strict=False)]
        return len(ts), max(gaps, default=math.nan) * 1000


class CommitWatch(threading.Thread):
    """Polls the order from its own connection: slowly while the lock is held, every 2 ms once
    `released` is set; records when it first stops being Created."""

    def __init__(self, path: Path, number: str) -> None:
        super().__init__(daemon=True)
        self.path, self.number = path, number
        self.released = threading.Event()
        self.stop = threading.Event()
        self.changed_at: float | None = None
        self.changed_to: tuple[str, int, int] | None = None

    def run(self) -> None:
        con = sqlite3.connect(self.path, check_same_thread=False)
        try:
            while not self.stop.is_set():
                state = order_state(con, self.number)
                if state[0] != "created":
                    self.changed_at, self.changed_to = time.perf_counter(), state
                    return
                self.stop.wait(0.002 if self.released.is_set() else 0.05)
        finally:
            con.close()


# ----------------------------------------------------------------------------- the run


def notices(app: Any) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def timed_press(pilot: Any, key: str) -> tuple[float, float]:
    """(ms from the start of `pilot.press(key)` to the screen's active list changed, ms to the
    press returned). The change is awaited beside the press, polling every millisecond; the
    press itself returns only after the Pilot's waits for an idle process (at least 2 x 20 ms,
    longer while anything else in the process, or on the machine, is busy)."""
    screen = pilot.app.screen
    before = screen.active
    t0 = time.perf_counter()
    press = asyncio.ensure_future(pilot.press(key))
    while screen.active is before:
        if time.perf_counter() - t0 > PRESS_TIMEOUT:
            press.cancel()
            raise SystemExit(f"key {key!r}: the active list did not change within {PRESS_TIMEOUT:g} s")
        await asyncio.sleep(0.001)
    t1 = time.perf_counter()
    await press
    return (t1 - t0) * 1000, (time.perf_counter() - t0) * 1000


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 40 samples is the largest)."""
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


async def scenario(desk: Any, seconds: float, presses: int) -> dict[str, Any]:
    from tui_helpers import board_ready, highlight, settle, wait_for

    from dispatchdesk import services
    from dispatchdesk.tui.app import DeskApp
    from dispatchdesk.tui.screens.confirm import ConfirmScreen
    from dispatchdesk.tui.screens.dispatch import DispatchScreen

    number = desk["created_inbound"]
    out: dict[str, Any] = {"number": number}
    header = HeaderProbe()
    try:
        app = DeskApp(desk.depot, relay=False, blink=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await board_ready(pilot)
            screen = app.screen
            probe = LoopProbe(app)
            await pilot.pause(0.2)
            keys = ["l", "h"]

            # 1. baseline -------------------------------------------------------------
            for k in keys * 2:  # warm up: the first moves load the actions of new cards
                await timed_press(pilot, k)
            a = time.perf_counter()
            base = []
            for i in range(presses):
                await pilot.pause(0.05)
                base.append(await timed_press(pilot, keys[i % 2]))
            b = time.perf_counter()
            out["base_press"] = [x for x, _ in base]
            out["base_focus"] = [y for _, y in base]
            out["base_loop"] = probe.window(a, b)
            out["base_seconds"] = b - a

            # 2. locked ---------------------------------------------------------------
            await highlight(pilot, "created", number)
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
            reader = sqlite3.connect(desk.path)
            before_state = order_state(reader, number)
            watch = CommitWatch(desk.path, number)
            watch.start()
            lock = sqlite3.connect(desk.path, isolation_level=None, check_same_thread=False)
            lock.execute("BEGIN IMMEDIATE")
            t_lock = time.perf_counter()
            released = False
            try:
                await pilot.press("y")
                await wait_for(pilot, lambda: services.WAITING in notices(app), "the waiting message")
                out["waiting_after_s"] = time.perf_counter() - t_lock
                await wait_for(pilot, lambda: isinstance(app.screen, DispatchScreen), "the board again")
                if app.screen.active is not screen.board.list_for("created"):
                    screen.board.list_for("created").focus()
                    await pilot.pause()
                # the presses spread over the lock, ending half a second before it goes
                start = time.perf_counter()
                end = t_lock + seconds - 0.5
                step = max(0.0, (end - start) / presses)
                locked = []
                for i in range(presses):
                    delay = start + i * step - time.perf_counter()
                    if delay > 0:
                        await pilot.pause(delay)
                    p = time.perf_counter()
                    press, focus = await timed_press(pilot, keys[i % 2])
                    locked.append((press, focus, p - t_lock))
                while time.perf_counter() < t_lock + seconds:
                    await pilot.pause(min(0.05, max(0.0, t_lock + seconds - time.perf_counter())))
                out["still_waiting"] = services.WAITING in notices(app)
                out["state_at_release"] = order_state(reader, number)
                lock.execute("ROLLBACK")
                released = True
            finally:
                if not released:
                    lock.execute("ROLLBACK")
                lock.close()
            t_release = time.perf_counter()
            watch.released.set()
            out["locked_press"] = [x for x, _, _ in locked]
            out["locked_focus"] = [y for _, y, _ in locked]
            out["locked_at"] = [z for _, _, z in locked]
            out["locked_loop"] = probe.window(t_lock, t_release)
            out["header"] = header.window(t_lock, t_release)
            out["lock_seconds"] = t_release - t_lock
            out["before_state"] = before_state

            await asyncio.to_thread(watch.join, 10.0)
            watch.stop.set()
            out["changed_before_release"] = watch.changed_at is not None and watch.changed_at < t_release
            out["commit_ms"] = (watch.changed_at - t_release) * 1000 if watch.changed_at else None
            try:
                await wait_for(pilot, lambda: services.WAITING not in notices(app), "the message to go", timeout=10)
                out["message_gone_ms"] = (time.perf_counter() - t_release) * 1000
                await settle(pilot)
            except AssertionError:
                out["message_gone_ms"] = None
            out["final_state"] = order_state(reader, number)
            reader.close()
            probe.timer.stop()
    finally:
        header.restore()
    return out


# ----------------------------------------------------------------------------- report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the lock is held (default 12)")
    parser.add_argument("--presses", type=int, default=40, help="key presses per phase (default 40)")
    parser.add_argument("--strict-gap", action="store_true",
                        help="fail the run when the largest loop gap with the lock misses its target")
    args = parser.parse_args()
    if args.seconds < 3:
        parser.error("--seconds must be at least 3")

    work = Path(tempfile.mkdtemp(prefix="bench_lock_"))
    try:
        t = time.perf_counter()
        desk = build_desk(work)
        print(f"seeded the console tests' depot in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        r = asyncio.run(scenario(desk, args.seconds, args.presses))
        print(f"ran the console in {time.perf_counter() - t:.1f} s")
        desk.depot.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    misses: list[str] = []
    n = args.presses
    bp50, bp99 = statistics.median(r["base_press"]), pct(r["base_press"], 99)
    lp50, lp99 = statistics.median(r["locked_press"]), pct(r["locked_press"], 99)
    bf50, bf99 = statistics.median(r["base_focus"]), pct(r["base_focus"], 99)
    lf50, lf99 = statistics.median(r["locked_focus"]), pct(r["locked_focus"], 99)
    ratio = lp99 / bp99

    print(f"\n1. a focus-moving key (l/h on the dispatch board), {n} presses each, ms "
          "(p99 of 40 is the largest)")
    print("                                    p50      p99")
    print("   press -> active list changed")
    print(f"     no lock (baseline)         {bp50:7.1f}  {bp99:7.1f}")
    print(f"     lock held, trash waiting   {lp50:7.1f}  {lp99:7.1f}   {lp50 / bp50:4.2f}x / {ratio:4.2f}x baseline")
    print("   of which press -> focus moved (the app's own part; the rest is the Pilot's idle waits)")
    print(f"     no lock (baseline)         {bf50:7.1f}  {bf99:7.1f}")
    print(f"     lock held, trash waiting   {lf50:7.1f}  {lf99:7.1f}   {lf50 / bf50:4.2f}x / {lf99 / bf99:4.2f}x baseline")
    slow = sorted(zip(r["locked_press"], r["locked_at"], strict=True), reverse=True)[:3]
    print("   slowest with the lock: " + ", ".join(f"{ms:.1f} ms at {at:.1f} s" for ms, at in slow))
    v1 = "PASS" if lp99 < KEY_P99_MS else "MISS"
    v2 = "PASS" if ratio <= KEY_RATIO else "MISS"
    print(f"   target: p99 with the lock under {KEY_P99_MS:g} ms: {lp99:.1f} ms [{v1}]; "
          f"at most {KEY_RATIO:g}x the baseline p99: {ratio:.2f}x [{v2}]")
    if v1 == "MISS":
        misses.append(f"key p99 {lp99:.1f} ms with the lock")
    if v2 == "MISS":
        misses.append(f"key p99 {ratio:.2f}x the baseline")

    bl, ll = r["base_loop"], r["locked_loop"]
    print(f"\n2. the event loop: a {TICK * 1000:.0f} ms timer on the app, largest gap between ticks "
          "(and largest wait of a call_later in the app's queue)")
    print(f"   no lock, during the baseline presses ({r['base_seconds']:.1f} s, {bl['ticks']} ticks): "
          f"{bl['gap_ms']:.1f} ms (queue {bl['queue_ms']:.1f} ms)")
    print(f"   lock held ({r['lock_seconds']:.1f} s, {ll['ticks']} ticks): {ll['gap_ms']:.1f} ms "
          f"(queue {ll['queue_ms']:.1f} ms), median gap {ll['gap_p50_ms']:.1f} ms, "
          f"{ll['gap_ms'] / bl['gap_ms']:.2f}x the baseline")
    count, hgap = r["header"]
    print(f"   the header (clock) updated {count} times while locked (every 0.5 s: "
          f"~{r['lock_seconds'] * 2:.0f} expected), largest gap {hgap:.0f} ms")
    v = "PASS" if ll["gap_ms"] < GAP_MS else "MISS"
    print(f"   target: largest gap with the lock under {GAP_MS:g} ms: {ll['gap_ms']:.1f} ms [{v}]"
          + ("" if args.strict_gap else " (figure only; --strict-gap makes it fail the run)"))
    if v == "MISS" and args.strict_gap:
        misses.append(f"loop gap {ll['gap_ms']:.1f} ms with the lock")

    print(f"\n3. the trash of {r['number']} (Created) while the lock is held")
    print(f"   the screen said it waits {r['waiting_after_s'] * 1000:.0f} ms after the lock "
          f"(y pressed; quiet for flows.QUIET_WAIT first), and still said so at the release: "
          f"{r['still_waiting']}")
    st, ver, aud = r["before_state"]
    print(f"   before: {st}, version {ver}, {aud} audit entries; at the release: "
          f"{r['state_at_release'][0]}, version {r['state_at_release'][1]}, {r['state_at_release'][2]} entries"
          f"; changed before the release: {r['changed_before_release']}")
    commit = r["commit_ms"]
    print("   release -> committed (polled every 2 ms from another connection): "
          + (f"{commit:.1f} ms" if commit is not None else "NOT COMMITTED within 10 s"))
    gone = r["message_gone_ms"]
    print("   release -> the waiting message gone: " + (f"{gone:.1f} ms" if gone is not None else "still shown"))
    final = r["final_state"]
    print(f"   at the end: {final[0]}, version {final[1]}, {final[2]} audit entries")
    if r["waiting_after_s"] is None or not r["still_waiting"]:
        misses.append("the trash did not wait for the lock")
    if r["changed_before_release"] or r["state_at_release"] != r["before_state"]:
        misses.append("the order changed before the lock was released")
    if commit is None or final[0] != "rejected" or final[2] != r["before_state"][2] + 1:
        misses.append(f"the trash was not committed (order {final[0]}, {final[2]} audit entries)")

    print("\nsummary: " + ("every target met" if not misses else "MISSED: " + "; ".join(misses)))
    print(json.dumps({"key_p99_ms": round(bp99, 1), "key_p99_locked_ms": round(lp99, 1),
                      "key_p99_ratio": round(ratio, 2), "loop_gap_ms": round(bl["gap_ms"], 1),
                      "loop_gap_locked_ms": round(ll["gap_ms"], 1),
                      "release_to_commit_ms": round(commit, 1) if commit is not None else None,
                      "final_status": final[0]}))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
