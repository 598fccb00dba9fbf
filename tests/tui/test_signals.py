"""The console as a real process in a terminal: a SIGTERM or a hang-up (an SSH connection that
drops) ends it cleanly, with the terminal put back (alternate screen left, cursor shown)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dispatchdesk.services import Depot

LEAVE_ALT_SCREEN = b"\x1b[?1049l"


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_console_and_puts_the_terminal_back(tmp_path: Path, sig: int) -> None:
    db = tmp_path / "depot.db"
    Depot.open(db).close()
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatchdesk.cli", "--db", str(db), "--no-relay"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        drawn = _read_until(master, b"Created", timeout=30)
        assert b"Created" in drawn, drawn[-500:]
        proc.send_signal(sig)
        rest = _read_until(master, LEAVE_ALT_SCREEN, timeout=15)
        assert proc.wait(timeout=15) == 0
        assert LEAVE_ALT_SCREEN in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
