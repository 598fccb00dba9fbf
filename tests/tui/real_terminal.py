"""The real `dispatchdesk` console in a pseudo-terminal, for the faults that only show there:
signals, a terminal that goes away, keys arriving in one burst, the first frame's placement.

    with Console(db) as con:            # starts it, 80x24
        con.read_until(b"Created")      # awaits what the screen shows
        con.type(b"llll")               # one write, as SSH sends a burst
        con.hang_up()                   # the terminal goes away (SIGHUP, as sshd or tmux do it)
        assert con.gone() == 0          # and the process ends
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

#: What a console that stays is given to end by itself (a console that hangs stays for ever).
GONE_WITHIN = 10.0

_CSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def _take_terminal() -> None:
    """In the child: a session of its own, with the pty as its controlling terminal, so that
    closing the other end sends it SIGHUP as a real hang-up does."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Console:
    def __init__(self, db: Path, *args: str, controlling: bool = True, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.args = args or ("--no-relay",)
        self.controlling = controlling
        self.env = env or {}
        self.output = b""
        self.master: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ended_at: float | None = None

    # ------------------------------------------------------------------ start and stop
    def __enter__(self) -> Console:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24", **self.env}
        env.pop("TEXTUAL_DRIVER", None)
        kw: dict[str, Any] = ({"preexec_fn": _take_terminal} if self.controlling
                              else {"start_new_session": True})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatchdesk.cli", "--db", str(self.db), *self.args],
            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, **kw)
        os.close(slave)
        self.master = master
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_master()

    def _close_master(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None

    # ------------------------------------------------------------------ the screen
    def read(self, timeout: float = 0.2) -> bytes:
        """What the console wrote within `timeout` (b"" if nothing)."""
        if self.master is None:
            return b""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the console closed its end
            return b""
        self.output += chunk
        return chunk

    def read_until(self, needle: bytes | re.Pattern[bytes], timeout: float = 30.0) -> bytes:
        """Read until `needle` is in the plain text of the output (escape sequences taken
        out); fails the test if it never comes."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            text = self.text(start)
            if (needle.search(text) if isinstance(needle, re.Pattern) else needle in text):
                return text
            if self.proc is not None and self.proc.poll() is not None:
                self.read(0.1)
                break
        raise AssertionError(f"{needle!r} never came; the end of the output: {self.output[-800:]!r}")

    def text(self, start: int = 0) -> bytes:
        return _CSI.sub(b"", self.output[start:])

    def type(self, keys: bytes) -> None:
        """One write to the terminal: a burst, as SSH sends typed keys when the link is slow."""
        assert self.master is not None
        os.write(self.master, keys)

    # ------------------------------------------------------------------ ending
    def hang_up(self) -> None:
        """The terminal goes away: its other end is closed. With the pty as the controlling
        terminal the kernel sends SIGHUP, as when sshd or tmux close it."""
        self._close_master()
        self.ended_at = time.monotonic()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.ended_at = time.monotonic()

    def gone(self, timeout: float = GONE_WITHIN) -> int:
        """The exit code, once the process has ended (fails the test if it stays)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.05)
        if self.proc.poll() is None:
            raise AssertionError(f"the console is still running {timeout:.0f} s after its terminal went away "
                                 f"or it was told to stop; the end of its output: {self.output[-500:]!r}")
        return self.proc.returncode

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid
