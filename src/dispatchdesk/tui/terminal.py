"""The console's terminal, which can go away at any moment (an SSH connection that drops, a
tmux session killed, a window closed).

    run_in_terminal(lambda: DeskApp(depot))   # blocking; SIGTERM/SIGHUP through the event loop

Three things end the console the normal way (``app.end(why)``: the relay stops and gives back
its claims, the database is closed by the caller), within a second or two:

- SIGTERM or SIGHUP: taken by the event loop (``loop.add_signal_handler``), from the moment the
  loop starts; before that, a signal is only noted, and the console does not start. Nothing is
  ever raised from a Python signal handler: an exception raised there lands wherever the main
  thread happens to be, a lock or Textual's writer queue included, and can leave the queue
  deadlocked for ever.
- end-of-file or an error (EIO) on the terminal's input, without any signal: Textual's input
  thread would spin on end-of-file for ever, or panic on EIO.
- an error writing to the terminal: Textual's writer thread would die with it, and the next
  thirty frames fill its queue and block the event loop (Textual 8.2.8,
  ``drivers/_writer_thread.py``).

Once the console is ending, writes to the terminal never wait long: the writer's queue is
given a bounded time and then the output is dropped (the terminal is gone, or is not read).
The last two are the driver's (tui/driver.py, Linux and macOS); this module has no part
that needs a Unix terminal.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

from textual.app import App

#: The signals that end the console.
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def run_in_terminal(make_app: Callable[[], App[Any]]) -> None:
    """Make the app and run it in the terminal until it exits (blocking), with SIGTERM and
    SIGHUP taken by the event loop, which calls ``app.end(why)`` (or ``app.exit()``). From
    the moment this is called a signal is noted, never raised; one that comes before the
    loop runs means the app does not start."""
    ending: list[str] = []
    made: list[App[Any]] = []

    def end(why: str) -> None:
        ending.append(why)
        app = made[0]
        stop = getattr(app, "end", None)
        if callable(stop):
            stop(why)
        else:
            app.exit()

    def note(signum: int, _frame: Any) -> None:
        # Only notes the signal (safe wherever the main thread is): the event loop acts on it.
        # Before the loop runs, that is all; once it runs, the loop was woken by the same
        # signal (its wakeup fd), and this note also gets a write stuck on a slow terminal
        # out of its wait (DeskDriver.write).
        why = f"{signal.Signals(signum).name} received"
        ending.append(why)
        if made and not getattr(made[0], "ending", ""):
            try:
                made[0].ending = why  # type: ignore[attr-defined]
            except AttributeError:
                pass

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in ENDING_SIGNALS:
            previous[sig] = signal.signal(sig, note)

    async def main(app: App[Any]) -> None:
        loop = asyncio.get_running_loop()
        for sig in previous:
            try:
                loop.add_signal_handler(sig, end, f"{signal.Signals(sig).name} received")
            except NotImplementedError:  # Windows: no signals through the loop
                continue
            signal.signal(sig, note)  # the loop still hears it (wakeup fd); see note()
        try:
            if ending:
                return  # a signal came before the console started: it does not start
            await app.run_async()
        finally:
            # back to only noting them, before the loop closes (which would put back the
            # default action, ending the process with nothing closed)
            for sig in previous:
                try:
                    loop.remove_signal_handler(sig)
                except NotImplementedError:
                    pass
                signal.signal(sig, note)

    try:
        if ending:
            return
        made.append(make_app())
        asyncio.run(main(made[0]))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
