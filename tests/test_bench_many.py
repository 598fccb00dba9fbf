"""The machinery of tests/bench/bench_many.py (issue 12 item 1) counts right: its arithmetic on
records made by hand, and a real run of two consoles for a few seconds (nothing timed is
asserted: the figures are the benchmark's)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent / "bench" / "bench_many.py"


def bench() -> ModuleType:
    if "bench_many" in sys.modules:
        return sys.modules["bench_many"]
    spec = importlib.util.spec_from_file_location("bench_many", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_many"] = mod
    spec.loader.exec_module(mod)
    return mod


def record(actor: str, commits: list[tuple[float, float | None, list[int]]],
           applies: list[tuple[Any, ...]], **kw: Any) -> dict[str, Any]:
    out = {"actor": actor, "commits": [{"t": t, "t_yes": y, "kind": "trash", "audit": ids} for t, y, ids in commits],
           "applies": applies, "changed": [x[1] for x in applies], "notes": [], "tried": {"trash": len(commits)},
           "stuck": [], "window": (0.0, 10.0), "stalls": [], "max_gap_ms": 60.0, "ticks": 200, "cpu_s": 1.0,
           "loads": [(x[1] - 0.1, 30.0, 20.0) for x in applies]}
    out.update(kw)
    return out


def test_the_arithmetic_on_records_made_by_hand() -> None:
    bm = bench()
    a = record("c-0", [(1.0, 0.9, [11]), (5.0, 4.95, [12]), (5.1, 4.95, [13])], [(0.5, 0.6), (1.2, 1.5), (6.0, 6.1)],
               notes=[(2.0, "Waiting for the database: another program is writing to it.", "warning"),
                      (3.0, "Order DD-1 was changed by someone else meanwhile.", "warning")],
               stalls=[(150.0, "bulk: select, t, the confirm", 40.0, 100.0)])
    # b saw a's first commit 0.5 s after it (a read that began at 0.95 was before it: not counted),
    # and never saw a's second one
    # on b's screen the card a trashed at 1.0 was in Created before, and gone at 1.5
    b = record("c-1", [(2.0, 1.8, [14])], [(0.95, 1.05, {"created": ["DD-1", "DD-2"]}),
                                           (1.1, 1.5, {"created": ["DD-2"]}), (2.5, 2.6, {"created": ["DD-2"]})])
    a["commits"][0]["moved"] = [("DD-1", "created", "rejected")]
    r = bm.analyse([a, b], {"c-0": {11, 12}, "c-1": {14, 99}})
    # y -> the last commit it made (the second order of c-0's undo at 5.1)
    assert sorted(round(x) for x in r["action"]) == [100, 150, 200]
    # a's commit at 1.0 shown in b at 1.5; a's at 5.0 and 5.1 never; b's at 2.0 shown in a at 6.1
    assert sorted(round(x) for x in r["shown"]) == [500, 4100]
    assert r["unseen"] == 2
    assert r["screen"] == {"was_shown": 1, "still_there": 0, "moved": 1}
    assert [round(x) for x in r["shown_all"]] == [500, 4100]  # one other console each
    assert [(c["actor"], len(c["action"]), len(c["shown"])) for c in r["per"]] == [("c-0", 2, 1), ("c-1", 1, 1)]
    assert len(r["locked"]) == 1 and r["conflicts"] == 1
    assert r["stalls"] == 1 and r["stall_by"] == {"bulk": [1, 150.0, 40.0, 100.0]}
    # c-0 reported 11, 12, 13 and the audit has 11, 12: one lost; c-1's 99 is no action's
    assert (r["done"], r["audit"], r["lost"], r["extra"]) == (4, 4, 1, 1)
    assert r["commits"] == 4 and r["consoles"] == 2 and r["loads"] == 6


def test_two_consoles_on_one_depot_are_counted(tmp_path: Path) -> None:
    """Two real consoles (each its own process, the Pilot pressing keys), the relay process and
    the partners: every committed action has its audit entry, every commit is seen by the
    other console, every notice reached its partner once."""
    bm = bench()
    args = argparse.Namespace(consoles=2, seconds=2.0, orders=200, order_every=1.0, undo_seconds=1,
                              settle=0.5, pg_server=bm.PG_DEFAULT)
    r = asyncio.run(bm.run_engine("sqlite", args, tmp_path, phases=(("many", 2),)))
    m, n = r["many"], r["notices"]
    assert m["consoles"] == 2
    assert m["commits"] >= 1, m["tried"]  # each console acts at once when the shift starts
    assert m["done"] >= m["commits"]
    assert (m["lost"], m["extra"]) == (0, 0) and m["done"] == m["audit"]
    assert m["unseen"] == 0 and len(m["shown"]) == m["commits"]
    assert m["screen"]["still_there"] == 0  # each change counted as shown had left its old list there
    assert 1 <= len(m["action"]) <= m["commits"]  # an undo of several orders commits each
    assert n["orders_sent"] >= 2 and n["send_failures"] == 0 and n["bad"] == 0
    assert n["received"] >= n["orders_sent"]  # each new order's receipt, at least
    assert (n["twice"], n["sent_not_received"], n["still_waiting"]) == (0, 0, 0)
    assert r["relay_alive"]
