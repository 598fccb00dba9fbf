"""Benchmark: what automation rules (issue 14) cost an action, and the backtest of saving one.

Builds three depots of the same N orders (default 20,000; `--orders N`) through
`import_json`, then times Accept (Created → Accepted, committed) on the same `--samples`
Created orders (default 300) in each, interleaved (one order on each depot in turn):

- baseline: the depot with no rules at all;
- 20 rules on, none firing (each waits for Accepted but needs a tag no order has): the rules
  are read and tried once per action;
- the same 20 plus one that fires (adds a tag and a follow-up, with its audit entries).

Then it times saving a rule (SaveRule.preview: the loop check and the backtest over the last
7 days of the audit, which holds the phases' changes) and `rule_test` with an order.

    .venv/bin/python tests/bench/bench_rules.py [--orders N] [--samples N]

Targets (exit 1 on a miss): p50 with 20 rules not firing at most 1.5x the baseline's p50;
with one firing at most 3x; the backtest under 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_io import make_data  # noqa: E402

from dispatchdesk.demo import add_demo_partners  # noqa: E402
from dispatchdesk.services import (  # noqa: E402
    Accept,
    Depot,
    RuleInput,
    SaveRule,
    parse_condition,
    parse_effect,
    parse_trigger,
    rule_test,
)
from dispatchdesk.services.importer import import_json  # noqa: E402

__all__ = ["main"]

IDLE_TARGET = 1.5
FIRING_TARGET = 3.0
BACKTEST_TARGET_S = 2.0


def accept_one(depot: Depot, number: str) -> float:
    t = time.perf_counter()
    Accept(number).execute(depot)
    return time.perf_counter() - t


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()
    n, k = args.orders, args.samples
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(n)
        depots = []
        for name in ("none", "idle", "firing"):
            d = Depot.open(Path(tmp) / f"{name}.db", actor="bench")
            add_demo_partners(d)
            import_json(d, data)
            depots.append(d)
        plain, quiet, busy = depots
        for d in (quiet, busy):
            for i in range(20):
                SaveRule(RuleInput(f"Idle {i}", parse_trigger("enters Accepted"),
                                   (parse_condition(f"has-tag never-{i}"),),
                                   (parse_effect(f"add-tag idle-{i}"),))).execute(d)
        SaveRule(RuleInput("Firing", parse_trigger("enters Accepted"), (),
                           (parse_effect("add-tag accepted"), parse_effect("follow-up Book the van")))).execute(busy)
        created = [f"B-{i:07d}" for i in range(0, n, 7)]
        if len(created) < k + 20:
            print(f"--orders {n} has {len(created)} Created orders; need {k + 20}", file=sys.stderr)
            return 2
        for number in created[k : k + 20]:  # warm up
            for d in depots:
                accept_one(d, number)
        base: list[float] = []
        idle: list[float] = []
        firing: list[float] = []
        # interleaved, so that a load that comes and goes on the machine touches all three alike
        for number in created[:k]:
            base.append(accept_one(plain, number))
            idle.append(accept_one(quiet, number))
            firing.append(accept_one(busy, number))
        probe = RuleInput("Probe", parse_trigger("enters Accepted"), (parse_condition("direction inbound"),),
                          (parse_effect("add-tag probe"),))
        t = time.perf_counter()
        pv = SaveRule(probe).preview(busy)
        backtest = time.perf_counter() - t
        t = time.perf_counter()
        rule_test(busy, "Firing", number=created[0])
        test_s = time.perf_counter() - t
        for d in depots:
            d.close()
    b50, b99 = pct(base, 0.5), pct(base, 0.99)
    print(f"orders: {n:,} in each of three depots; {k} actions on each, interleaved")
    print(f"Accept, no rules (baseline): p50 {b50 * 1000:.2f} ms, p99 {b99 * 1000:.2f} ms")
    for name, xs in (("20 rules, none firing", idle), ("21 rules, one firing", firing)):
        print(f"Accept, {name}:  p50 {pct(xs, 0.5) * 1000:.2f} ms = {pct(xs, 0.5) / b50:.2f}x, "
              f"p99 {pct(xs, 0.99) * 1000:.2f} ms = {pct(xs, 0.99) / b99:.2f}x, "
              f"mean {statistics.mean(xs) * 1000:.2f} ms")
    print(f"SaveRule preview (loop check + backtest of the last 7 days): {backtest:.2f} s "
          f"({pv.lines[-2]})")
    print(f"rule_test with an order: {test_s:.2f} s")
    ok = (pct(idle, 0.5) / b50 <= IDLE_TARGET and pct(firing, 0.5) / b50 <= FIRING_TARGET
          and backtest < BACKTEST_TARGET_S)
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
