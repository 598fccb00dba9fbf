"""Relay crash benchmark: kill a real `dispatchdesk relay` process with SIGKILL mid-drain 20
times (issue 9 item 8; the suite's tests/link/test_relay_crash.py does it three times).

    .venv/bin/python tests/bench/bench_relay_crash.py [--kills 20] [--orders 900]

Figures: notices lost, applied twice at the receiver, reordered per order and partner (each
target 0); per kill, the seconds from the kill to the next delivery and to the moment none of
the killed worker's claims is left (target: the longest under 10 s). The baseline is the
relay's own lease (LEASE_SECONDS): the recovery cannot be faster than the lease running out.
How it works: tests/link/crashkit.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "link"))

from crashkit import crash_run  # noqa: E402

from dispatchdesk.link.relay import LEASE_SECONDS  # noqa: E402

TARGET_GAP = 10.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--orders", type=int, default=6000)
    ap.add_argument("--delay", type=float, default=0.03, help="seconds the receiver takes per message")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        f = asyncio.run(crash_run(Path(tmp), kills=args.kills, orders=args.orders, delay=args.delay,
                                  timeout=60.0, progress=True))
    for line in f.lines():
        print(line)
    worst = max(f.gap_next + f.gap_taken_over)
    print(f"lease: {LEASE_SECONDS:g} s; longest recovery {worst:.2f} s = {worst / LEASE_SECONDS:.2f}x the lease "
          f"(target under {TARGET_GAP:g} s)")
    ok = (f.lost, f.applied_twice, f.reordered) == (0, 0, 0) and worst < TARGET_GAP
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
