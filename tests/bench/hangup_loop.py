"""The console hung up at any moment, N times: how many stay (issue 10, item 1).

    python tests/bench/hangup_loop.py [N] [--no-relay] [--stacks]

Not a benchmark run by run_all.py (it takes minutes): a loop, as in the issue's reproduction.
Each round copies one demo depot, starts `dispatchdesk --db COPY` in a tmux session of its own
(80x24, the relay on unless --no-relay), and kills the session, which closes the terminal
and sends SIGHUP, at one of these moments, in turn:

- start-up: 0.1 to 2 s after the start, at random (often before the board is drawn);
- drawn: right after the board shows "Created";
- confirm: while the trash confirm is open;
- refresh: while another process adds an order every 50 ms (the board reloads and redraws);
- keys: while a burst of keys (moves, a carried card, the menu) is being handled.

A console "stays" when its process is still running 2 s after the kill (zombies, which
the tmux server has not reaped yet, have ended); one that ends within 10 s is "late", else
it is sent SIGTERM, then SIGKILL. With --stacks, each console dumps its threads' stacks on
SIGUSR1 (faulthandler, through a sitecustomize in the work directory) and a stayer's are
printed. For every console it notes how long it took (from the kill to the end of the
process) and whether the database was closed (SQLite removes the -wal file when the last
connection closes cleanly). Exit status 1 when any stayed.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PY = sys.executable
MOMENTS = ("start-up", "drawn", "confirm", "refresh", "keys")
SOCKET = f"dd-hangup-{os.getpid()}"


def tmux(*args: str, check: bool = False) -> str:
    r = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=check)
    return r.stdout


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_screen(session: str, text: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in screen(session):
            return True
        time.sleep(0.05)
    return False


def colleague(db: Path, stop: threading.Event) -> None:
    sys.path.insert(0, str(SRC))
    from dispatchdesk import services
    from dispatchdesk.services import Depot, LineInput, OrderInput

    depot = Depot.open(db, actor="colleague")
    try:
        n = 0
        while not stop.is_set():
            n += 1
            services.create_order(depot, OrderInput(
                pickup_address=f"{n} Mill Lane, Leeds", delivery_address="2 Road, York",
                lines=[LineInput("BOX", 1, "a box")], parcels=1, weight_kg=1.0))
            stop.wait(0.05)
    finally:
        depot.close()


STACKS = """import faulthandler, os, signal
_f = open(os.path.join(os.path.dirname(__file__), f"stack-{os.getpid()}.txt"), "w")
faulthandler.register(signal.SIGUSR1, file=_f, all_threads=True)
"""


def one_round(template: Path, work: Path, moment: str, relay: bool, i: int,
              stacks: bool) -> tuple[bool, float | None, bool]:
    """(stayed, seconds to end, database closed)"""
    db = work / f"round{i}.db"
    shutil.copy(template, db)
    session = f"r{i}"
    path = f"{work / 'site'}:{SRC}" if stacks else str(SRC)
    cmd = f"PYTHONPATH={path} exec {PY} -m dispatchdesk.cli --db {db}" + ("" if relay else " --no-relay")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd, check=True)
    pid = int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip())
    stop = threading.Event()
    helper: threading.Thread | None = None
    try:
        if moment == "start-up":
            time.sleep(random.uniform(0.1, 2.0))
        else:
            wait_screen(session, "Created")
            if moment == "confirm":
                tmux("send-keys", "-t", session, "t")
                wait_screen(session, "No (n)", timeout=10)
            elif moment == "refresh":
                helper = threading.Thread(target=colleague, args=(db, stop))
                helper.start()
                time.sleep(random.uniform(0.5, 1.5))
            elif moment == "keys":
                tmux("send-keys", "-t", session, "l", "l", "j", "j", "m", "l", "Escape", "h", "o")
                time.sleep(random.uniform(0.0, 0.3))
        killed = time.monotonic()
        tmux("kill-session", "-t", session)
        ended: float | None = None
        while time.monotonic() - killed < 2.0:
            if not alive(pid):
                ended = time.monotonic() - killed
                break
            time.sleep(0.01)
    finally:
        stop.set()
        if helper is not None:
            helper.join()
    stayed = ended is None
    if stayed:
        while ended is None and time.monotonic() - killed < 10.0:
            if not alive(pid):
                ended = time.monotonic() - killed
            time.sleep(0.01)
        if ended is not None:
            print(f"  round {i} ({moment}): stayed, late: ended after {ended:.2f} s", flush=True)
            return True, ended, not Path(f"{db}-wal").exists()
        if stacks:
            os.kill(pid, 10)
            time.sleep(0.5)
            print((work / "site" / f"stack-{pid}.txt").read_text(), flush=True)
        os.kill(pid, 15)
        time.sleep(1.0)
        if alive(pid):
            print(f"  round {i} ({moment}): ignores SIGTERM too", flush=True)
            os.kill(pid, 9)
    time.sleep(0.1)
    closed = not Path(f"{db}-wal").exists()
    return stayed, ended, closed


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    relay = "--no-relay" not in sys.argv
    stacks = "--stacks" in sys.argv
    n = int(args[0]) if args else 50
    if shutil.which("tmux") is None:
        print("tmux is needed (apt-get install -y tmux).")
        return 2
    work = Path(tempfile.mkdtemp(prefix="dd-hangup-"))
    template = work / "demo.db"
    (work / "site").mkdir()
    (work / "site" / "sitecustomize.py").write_text(STACKS)
    print(f"building a demo depot in {template} ...", flush=True)
    subprocess.run([PY, "-m", "dispatchdesk.cli", "--db", str(template), "init", "--demo"],
                   env={**os.environ, "PYTHONPATH": str(SRC)}, check=True, capture_output=True)
    stays: dict[str, int] = dict.fromkeys(MOMENTS, 0)
    times: list[float] = []
    not_closed: dict[str, int] = dict.fromkeys(MOMENTS, 0)
    try:
        for i in range(n):
            moment = MOMENTS[i % len(MOMENTS)]
            stayed, took, closed = one_round(template, work, moment, relay, i, stacks)
            if stayed:
                stays[moment] += 1
                print(f"  round {i} ({moment}): STAYED", flush=True)
            if took is not None:
                times.append(took)
                not_closed[moment] += not closed
    finally:
        tmux("kill-server")
        shutil.rmtree(work, ignore_errors=True)
    total = sum(stays.values())
    print(f"hung up {n} consoles ({'relay on' if relay else '--no-relay'}): {total} stayed "
          + ", ".join(f"{m} {k}" for m, k in stays.items()))
    if times:
        times.sort()
        print(f"time to end after the kill (late ones included): median {statistics.median(times):.2f} s, "
              f"max {times[-1]:.2f} s; database not closed cleanly (a -wal file left): "
              + ", ".join(f"{m} {k}" for m, k in not_closed.items()))
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
