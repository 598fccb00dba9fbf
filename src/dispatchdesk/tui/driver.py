"""The console's driver on Linux and macOS: Textual 8.2.8's LinuxDriver, for a terminal that
may go away at any moment (see tui/terminal.py for the whole story).

- end-of-file or an error (EIO) on the terminal's input, without any signal, ends the console
  (``app.end(why)`` on the event loop): Textual's input thread would spin on end-of-file for
  ever, or panic on EIO;
- an error writing to the terminal does not kill Textual's writer thread (which then let the
  next thirty frames fill its queue and block the event loop, ``drivers/_writer_thread.py``):
  the console ends, and later output is dropped;
- once the console is ending, writes and closing wait a bounded time.

DeskApp.get_driver_class() chooses it (not on Windows, nor when TEXTUAL_DRIVER is set).
"""

from __future__ import annotations

import os
import selectors
import sys
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from functools import partial
from queue import Full
from typing import IO, Any

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver

#: How long a write may wait for the writer thread once the console is ending.
ENDING_WRITE_WAIT = 0.5
#: How long closing waits for the writer thread to put the terminal back: once the console is
#: ending (a signal, the terminal gone), and when the dispatcher quits (a slow SSH link).
CLOSE_WAIT = 1.0
QUIT_CLOSE_WAIT = 10.0
#: While the console runs, a full writer queue is looked at again this often (is it ending?).
POLL = 0.1


class _TerminalFile:
    """What Textual's writer thread writes to: the real stream, but an error (EIO: the
    terminal has gone) does not kill the thread; it says so once, and later writes are dropped."""

    def __init__(self, stream: IO[str], gone: Callable[[str], None]) -> None:
        self._stream = stream
        self._gone = gone
        self.broken = False

    def _failed(self, e: BaseException) -> None:
        if not self.broken:
            self.broken = True
            self._gone(f"the terminal cannot be written to ({e})")

    def write(self, text: str) -> int:
        if self.broken:
            return 0
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as e:
            self._failed(e)
            return 0

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as e:
            self._failed(e)

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class DeskDriver(LinuxDriver):
    """Textual's Linux driver, for a terminal that may go away (see the module's docstring)."""

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)  # made on the event loop: self._loop is it
        self.gone = ""  # why the terminal is gone, once it is
        stream = self._file if self._file is not None else sys.__stderr__
        assert stream is not None
        self._file = _TerminalFile(stream, self._terminal_gone)  # type: ignore[assignment]

    @property
    def ending(self) -> bool:
        return bool(self.gone) or bool(getattr(self._app, "ending", ""))

    def _terminal_gone(self, why: str) -> None:
        """From any thread: the terminal is gone; end the console through the event loop."""
        if self.gone:
            return
        self.gone = why
        end = getattr(self._app, "end", None)
        callback = partial(end, why) if callable(end) else self._app.exit
        loop = self._loop
        if loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _sigcont_application(self, *_: Any) -> None:
        """Textual restarts application mode on every SIGCONT, from the Python signal handler,
        so wherever the main thread is (inside the writer's queue, say): new writer and input
        threads, the terminal set up again. The kernel sends SIGCONT with every hang-up. Only
        a console that suspended itself (ctrl+z, SIGTSTP) is resumed, and not one ending."""
        if self._must_signal_resume and not self.ending:
            super()._sigcont_application()

    # ------------------------------------------------------------------ output
    def write(self, data: str) -> None:
        writer = self._writer_thread
        assert writer is not None, "Driver must be in application mode"
        file = self._file
        if self.gone or getattr(file, "broken", False) or not writer.is_alive():
            return  # nobody reads it any more
        queue = writer._queue
        if not self.ending:
            # a slow terminal holds the console back, as Textual means it to; but a SIGTERM,
            # noted meanwhile, gets it out of the wait (see run_in_terminal)
            while True:
                try:
                    queue.put(data, timeout=POLL)
                    return
                except Full:
                    if self.ending or not writer.is_alive():
                        break
        try:
            queue.put(data, timeout=ENDING_WRITE_WAIT)
        except Full:
            self._terminal_gone("the terminal does not take output")

    def close(self) -> None:
        """Stop the writer thread, waiting a bounded time for it to put the terminal back."""
        writer = self._writer_thread
        if writer is None or not writer.is_alive():
            return
        wait = CLOSE_WAIT if self.ending else QUIT_CLOSE_WAIT
        deadline = time.monotonic() + wait
        try:
            writer._queue.put(None, timeout=wait)
        except Full:
            self._terminal_gone("the terminal does not take output")
            return  # a daemon thread: it does not keep the process alive
        writer.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ input
    def _run_input_thread(self) -> None:
        try:
            self.run_input_thread()
        except Exception as e:  # noqa: BLE001 - the terminal is unusable: end the console, no panic
            self._terminal_gone(f"the terminal's input failed ({type(e).__name__}: {e})")

    def run_input_thread(self) -> None:
        """Textual 8.2.8's input loop, except that end-of-file or an error (EIO) on the input,
        as when the terminal goes away without a SIGHUP, ends the console: Textual's own loop
        spins on end-of-file for ever, and panics on EIO."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process(ready: list[Any], final: bool = False) -> bool:
            """False once the input has ended."""
            for _key, mask in ready:
                if mask & selectors.EVENT_READ:
                    try:
                        data = os.read(fileno, 1024 * 4)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        self._terminal_gone(f"the terminal's input failed ({e})")
                        return False
                    if not data:
                        self._terminal_gone("the terminal's input ended")
                        return False
                    for event in feed(decode(data, final=final)):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(0.1)):
                    return  # nothing more will come: the thread ends (a join finds it done)
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
