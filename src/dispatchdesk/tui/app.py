"""The console app: screens by key, the relay inside it, and the watch on the database.

    run(depot)                      # blocking; the relay runs inside the console
    run(depot, relay=False)         # another process runs `dispatchdesk relay`
    run(depot, demo=True)           # and the demo partners answer (DemoSimulator)

| Key | Screen |
| --- | --- |
| 1 | Dispatch |
| 2 | Order reception |
| 3 | Link (when installed) |
| 4 | Partners (when installed) |
| 5 | Report: work done, rejections and cancellations per partner and reason, for a period |
| 6 | Rules: what happens by itself when an order enters a list, gets a tag or arrives |
| ctrl+p | Command palette: every action |
| ctrl+q | Quit |
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from ..resources import styles_dir
from ..services import ERRORS, Depot
from ..services import presence as here
from .loader import BoardData, Prefetch
from .screens.dispatch import WORK_KEYS, DispatchScreen
from .widgets.header import DeskHeader

if TYPE_CHECKING:
    from textual.command import Provider

    from .flows import Flows

#: What the board's first draw does not need, imported in a thread once it is drawn (so that
#: the first key press does not wait for it): the flows and their dialogs, the detail, the
#: command palette's provider.
LATER = ("dispatchdesk.tui.flows", "dispatchdesk.tui.screens.detail", "dispatchdesk.tui.commands")

#: When the console ends by a signal or a lost terminal: how long the relay's deliveries under
#: way may take to finish (the whole console is out within about two seconds).
ENDING_GRACE = 0.5
#: How often the database's change sequence is read on SQLite (SPEC 8: other sessions' changes
#: within ~1 s; issue 12: p99 under 500 ms with the board's refresh, so a quarter second: a read
#: of one row, cheap for 16 consoles). On PostgreSQL changes are pushed (LISTEN/NOTIFY): see
#: store/listen.py.
POLL_SECONDS = 0.25
#: The longest the watcher waits for a change in one go (it also wakes when the console ends).
WATCH_SLICE = 5.0
#: The longest keys are held while a flow reads what its next screen shows (`hold_keys`); past
#: it they go on to whatever screen is open, as they would have without the hold.
HOLD_LIMIT = 5.0
#: The longest the collector stays paused after the app is mounted when the board is not drawn.
GC_BACKSTOP = 10.0


def _installed(module: str) -> bool:
    """Is the module there (without importing it)?"""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _optional(module: str, name: str) -> tuple[Any, str]:
    """(the class, "") when it can be imported, else (None, why not)."""
    try:
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name), ""
    except Exception as e:  # noqa: BLE001 - a part not installed (or broken) is reported, not fatal
        return None, f"{type(e).__name__}: {e}"


#: Stylesheets loaded with a screen when it first opens, not at start-up.
ON_DEMAND = {"dialogs.tcss", "detail.tcss", "link.tcss", "reception.tcss", "rules.tcss"}


def stylesheets() -> list[Path]:
    """The board's stylesheet (and any other not loaded on demand)."""
    return [p for p in sorted(styles_dir().glob("*.tcss")) if p.name not in ON_DEMAND]


def _with_css(screen: Any, name: str) -> Any:
    """A screen of another part (Link, Partners) with the stylesheet it is drawn with."""
    path = styles_dir() / name
    if path.is_file() and path not in screen.css_path:
        screen.css_path.append(path)
    return screen


def _desk_commands() -> type[Provider]:
    """The command palette's provider, imported when the palette first opens."""
    from .commands import DeskCommands

    return DeskCommands


def _import_later() -> None:
    """Import LATER (in a thread, after the board is drawn)."""
    import importlib

    for module in LATER:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - imported again (and the error shown) when first used
            return
    gc.freeze()  # as at the first draw: what lives as long as the console stays out of the collector


class _LazyFlows:
    """The app's flows (tui/flows.py), made when first used. Until then nothing can be undone
    and no write waits, so the board's key bindings do not import them while it starts."""

    def __init__(self, app: DeskApp) -> None:
        self._app = app
        self._flows: Flows | None = None

    def real(self) -> Flows:
        if self._flows is None:
            from .flows import Flows

            self._flows = Flows(self._app)
        return self._flows

    def can_undo(self) -> bool:
        return self._flows is not None and self._flows.can_undo()

    def give_up(self) -> bool:
        return self._flows is not None and self._flows.give_up()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


class DeskApp(App[None]):
    TITLE = "dispatchdesk"
    COMMANDS = App.COMMANDS | {_desk_commands}
    MODES = {"dispatch": DispatchScreen}
    DEFAULT_MODE = "dispatch"
    BINDINGS = [
        Binding("1", "mode('dispatch')", "Dispatch", show=False),
        Binding("2", "mode('reception')", "Reception", show=False),
        Binding("3", "mode('link')", "Link", show=False),
        Binding("4", "mode('partners')", "Partners", show=False),
        Binding("5", "mode('report')", "Report", show=False),
        Binding("6", "mode('rules')", "Rules", show=False),
        # Esc while a write waits for another program's lock gives it up (else Esc is the
        # screen's own: the action skips)
        Binding("escape", "give_up", "Give up", show=False, priority=True),
    ]

    def __init__(
        self,
        depot: Depot,
        *,
        demo: bool = False,
        listen: str | None = None,
        relay: bool | Any = True,
        blink: bool = True,
        poll: float = POLL_SECONDS,
        exit_when_drawn: bool = False,
        presence: bool = True,
        heartbeat: float = here.HEARTBEAT_SECONDS,
    ) -> None:
        super().__init__(css_path=stylesheets())  # type: ignore[arg-type]
        self.depot = depot
        self.demo = demo
        self.listen = listen
        self.blink = blink
        self.poll = poll
        self.exit_when_drawn = exit_when_drawn
        self.drawn_at: float | None = None  # time.perf_counter() when the board was first drawn
        self.drawn_wall: float | None = None  # the same moment as time.time()
        self.started_at = time.perf_counter()
        self._flows = _LazyFlows(self)
        self.depot_name = ""
        self._stop = threading.Event()
        #: who is here (services/presence.py): this console's id once joined, the consoles
        #: last read, and what this console has open (the top detail or confirm's order)
        self._want_presence = presence
        self.heartbeat = heartbeat
        self.console_id: str | None = None
        self.consoles: list[here.ConsoleView] | None = None
        self.open_order_number: str | None = None
        self._beat_now = threading.Event()
        self._presence_worker: Any = None
        self._want_relay = relay
        self.relay: Any = None
        self.relay_problem = ""
        self.simulator: Any = None
        #: why the console is ending when not by the dispatcher's choice ("SIGHUP received",
        #: "the terminal's input ended"...): set from a signal or the terminal's threads
        self.ending = ""
        self._dom_was_ready = False  # the first screen is drawn (Textual's Ready)
        self.screens_available: dict[str, str] = {}
        #: keys typed while a flow reads what its next screen shows (None: not holding); see
        #: hold_keys
        self._held_keys: list[events.Key | events.Paste] | None = None
        self._hold_gen = 0
        self._holds = 0  # holds begun (a hold's time limit ends only that hold)
        #: the first load of the board starts now, while Textual starts
        self._prefetch: Prefetch | None = Prefetch(depot, WORK_KEYS)
        # Link (3) and Partners (4) belong to the link part: bound only when installed, and
        # imported when first opened, so that start-up does not pay for them.
        self.add_mode("report", self._report_screen)
        # Rules (6) is imported when first opened
        self.add_mode("rules", self._rules_screen)
        # Order reception (2) is imported when first opened
        self.add_mode("reception", self._make_reception)
        for mode, module, name in (("link", "dispatchdesk.tui.link_screen", "LinkScreen"),
                                   ("partners", "dispatchdesk.tui.partners_screen", "PartnersScreen")):
            if _installed(module):
                self.add_mode(mode, partial(self._make_screen, module, name))

    def _report_screen(self) -> Screen[Any]:
        from .screens.report import ReportScreen  # imported when first opened

        return ReportScreen()

    def _rules_screen(self) -> Screen[Any]:
        from .screens.rules import RulesScreen  # imported when first opened

        return RulesScreen()

    def _make_reception(self) -> Screen[Any]:
        from .screens.reception import ReceptionScreen

        return ReceptionScreen()

    def _make_screen(self, module: str, name: str) -> Screen[Any]:
        cls, why = _optional(module, name)
        if cls is None:
            raise RuntimeError(f"{module} cannot be loaded: {why}")
        return _with_css(cls(self.depot), "link.tcss")

    @property
    def flows(self) -> Flows:
        """The flows of the actions (tui/flows.py), imported when first used."""
        return self._flows  # type: ignore[return-value]  # a stand-in until first used

    def get_driver_class(self) -> type[Driver]:
        """On Linux and macOS, Textual's driver made safe for a terminal that goes away
        (tui/driver.py); TEXTUAL_DRIVER still chooses another."""
        if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
            return super().get_driver_class()
        from .driver import DeskDriver

        return DeskDriver

    # ------------------------------------------------------------------ start and stop
    def action_give_up(self) -> None:
        if not self.flows.give_up():
            raise SkipAction()

    async def on_mount(self) -> None:
        # the command pauses the collector while it starts (cli/console.py): it is back at the
        # first draw, or here at the latest if the board cannot be drawn
        self.set_timer(GC_BACKSTOP, gc.enable)
        self._read_depot_name()
        self._watch()
        if self._want_presence:
            self._presence_worker = self._presence()
        self.run_worker(self._start_background(), group="background")

    def end(self, why: str) -> None:
        """End the console the normal way, not by the dispatcher's choice: a `kill` (SIGTERM),
        an SSH connection that drops (SIGHUP), a terminal that went away. The relay stops
        and gives back its claims, the terminal is put back if it is there, nothing is left
        half-written. Called on the event loop (tui/terminal.py)."""
        if not self.ending:
            self.ending = why
        if self._dom_was_ready:
            self.exit()
        # else: on_ready exits; exiting while the first screen mounts ends in Textual's MountError

    def on_ready(self) -> None:
        self._dom_was_ready = True
        if self.ending:
            self.exit()

    async def _start_background(self) -> None:
        want = self._want_relay
        if want is True:
            relay_cls, why = _optional("dispatchdesk.link.relay", "Relay")
            if relay_cls is None:
                self.relay_problem = "not available"
                self.log.warning(f"relay not available: {why}")
            else:
                try:
                    self.relay = relay_cls(self.depot, listen=self.listen)
                except Exception as e:  # noqa: BLE001 - shown in the header, the console goes on
                    self.relay_problem = f"cannot start: {e}"
        elif want not in (False, None):
            self.relay = want  # a relay object given by the caller (tests)
        if self.relay is not None:
            try:
                await self.relay.start()
            except Exception as e:  # noqa: BLE001 - shown in the header, the console goes on
                self.relay_problem = f"cannot start: {e}"
                self.relay = None
        if self.demo:
            sim_cls, why = _optional("dispatchdesk.link.simulator", "DemoSimulator")
            if sim_cls is None:
                self.notify(f"The demo partners cannot start ({why}).", severity="warning", markup=False)
            else:
                try:
                    self.simulator = sim_cls(self.depot)
                    await self.simulator.start()
                except Exception as e:  # noqa: BLE001
                    self.simulator = None
                    self.notify(f"The demo partners cannot start: {e}", severity="warning", markup=False)

    async def on_unmount(self) -> None:
        self._stop.set()
        self._beat_now.set()
        # the watcher may sleep on the database's notifications: wake it (a thread: on
        # PostgreSQL that is a NOTIFY; bounded, the watcher wakes by itself within a second)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.depot.db.wake_waiters), timeout=1.0)
        except Exception:  # noqa: BLE001
            pass
        if self._presence_worker is not None:
            # it leaves the depot (its row goes) on its way out: a beat waits at most a moment
            try:
                await asyncio.wait_for(self._presence_worker.wait(), timeout=2.0)
            except Exception:  # noqa: BLE001 - the row then goes stale by itself
                pass
        for part in (self.simulator, self.relay):
            if part is not None:
                if self.ending and isinstance(getattr(part, "grace", None), (int, float)):
                    # nobody is watching: deliveries under way get a short moment, not the
                    # usual one (a cut attempt is delivered again later, at least once)
                    part.grace = min(part.grace, ENDING_GRACE)
                try:
                    await part.stop()
                except Exception as e:  # noqa: BLE001 - stopping must not hide the way out
                    self.log.error(f"stopping {part!r}: {e}")

    def relay_status(self) -> str:
        if self._want_relay is False or self._want_relay is None:
            return "relay: off"
        if self.relay is None:
            return f"relay: {self.relay_problem or 'starting'}"
        state = str(getattr(self.relay, "state", "") or "?")
        waiting = getattr(self.relay, "waiting", 0) or 0
        return f"relay: {state} · {waiting} waiting"

    @work(thread=True, group="watch", exit_on_error=False)
    def _read_depot_name(self) -> None:
        try:
            name = self.depot.setting("depot_name") or ""
        except ERRORS:
            name = ""
        self.call_from_thread(setattr, self, "depot_name", name)

    # ------------------------------------------------------------------ watching the database
    @work(thread=True, group="watch", exit_on_error=False)
    def _watch(self) -> None:
        """Refresh the screens when another session commits: woken by the database's
        notification on PostgreSQL, by a poll of the change counter on SQLite."""
        db = self.depot.db
        try:
            last = db.change_seq()
        except Exception:  # noqa: BLE001 - unreadable now: the first number read counts as a change
            last = -1
        while not self._stop.is_set():
            try:
                seq = db.wait_for_change(last, max(WATCH_SLICE, self.poll), stop=self._stop, poll=self.poll)
            except Exception:  # noqa: BLE001 - the database went away while closing
                if self._stop.is_set():
                    return
                self._stop.wait(self.poll)
                continue
            if seq != last and not self._stop.is_set():
                try:
                    self.call_from_thread(partial(self.depot_changed, elsewhere=True))
                except RuntimeError:
                    return  # the app is closing
            last = seq

    # ------------------------------------------------------------------ who is here
    @work(thread=True, group="presence", exit_on_error=False)
    def _presence(self) -> None:
        """Join the depot, beat every HEARTBEAT_SECONDS (at once when what is open changed) and
        read who else is here; leave on the way out. Nothing here ever blocks an action: a beat
        on a busy database is skipped (services/presence.py)."""
        depot = self.depot
        me = here.join(depot, screen=self._screen_name(), open_order=self.open_order_number)
        self.console_id = me
        try:
            views = here.present_quietly(depot)
            while not self._stop.is_set():
                if views is not None:
                    try:
                        self.call_from_thread(self._presence_read, views)
                    except RuntimeError:
                        return  # the app is closing
                self._beat_now.wait(self.heartbeat)
                self._beat_now.clear()
                if self._stop.is_set():
                    return
                # the beat and the read of who is here in one short transaction; read alone
                # when the beat was skipped (a busy database)
                views = here.beat(depot, me, open_order=self.open_order_number, screen=self._screen_name())
                if views is None:
                    views = here.present_quietly(depot)
        finally:
            here.leave(depot, me)

    def _screen_name(self) -> str:
        return "order" if self.open_order_number else str(self.current_mode or "")

    def _presence_read(self, views: list[here.ConsoleView]) -> None:
        self.consoles = views
        for screen in self.screen_stack:
            handler = getattr(screen, "presence_changed", None)
            if callable(handler):
                handler()
        for header in self.screen.query(DeskHeader):
            header.update_now()

    def presence_touch(self) -> None:
        """A detail or a confirm opened or closed: say at once which order this console has
        open (the top-most screen's `presence_order`)."""
        number: str | None = None
        for screen in reversed(self.screen_stack):
            number = getattr(screen, "presence_order", None)
            if number:
                break
        if number != self.open_order_number:
            self.open_order_number = number
            self._beat_now.set()

    def presence_status(self) -> str:
        """The header's "3 here" ('' until known, or without presence)."""
        if self.consoles is None:
            return ""
        return here.here_label(self.consoles)

    def also_open(self, number: str) -> str:
        """Who else has order `number` open, as the services word it ('' for nobody)."""
        if not self.consoles:
            return ""
        return here.also_open(here.others_on(self.depot, number, self.console_id, consoles=self.consoles))

    def refresh_bindings(self) -> None:
        # A timer (the undo window's end) or a change seen by the watcher can land while the
        # console is closing, after its last screen is gone: nothing to refresh then (Textual's
        # own would raise ScreenStackError, seen once when 16 consoles quit together).
        if self.screen_stack:
            super().refresh_bindings()

    # ------------------------------------------------------------------ keys typed ahead
    # A flow that opens a screen reads what the screen shows first, in a thread (a confirm's
    # words, a form's pick lists). Keys typed in the same burst as the key that started it (`t`
    # then `y`; `n` then a rule's name; a paste over SSH) would reach the screen underneath,
    # which does something else with them or nothing. So they are held from the key that starts
    # the flow until its next screen is up, then handed to it in the order typed; if the flow
    # opens no screen, or starts writing (when Esc must reach the give-up), they go where they
    # would have gone. Mouse events are never held.
    def hold_keys(self) -> int:
        """Start (or go on) holding typed keys; returns the hold's mark for `release_keys`."""
        if self._held_keys is None:
            self._held_keys = []
            self._holds += 1
            self.set_timer(HOLD_LIMIT, partial(self._hold_expired, self._holds))
        self._hold_gen += 1
        return self._hold_gen

    def _hold_expired(self, hold: int) -> None:
        if hold == self._holds and self._held_keys is not None:
            self.release_keys()

    def release_keys(self, mark: int | None = None) -> None:
        """Hand the held keys on, in order. With a mark: only if nothing held keys since."""
        if mark is not None and mark != self._hold_gen:
            return
        held, self._held_keys = self._held_keys, None
        for event in held or ():
            if isinstance(event, events.Key):
                self.post_message(events.Key(event.key, event.character))
            else:
                self.post_message(events.Paste(event.text))

    def release_keys_later(self, mark: int) -> None:
        """After a read: let the flow go on to push its screen (which releases the keys once
        it is up); if it pushes none, release them when the loop comes round."""
        self.call_later(self.release_keys, mark)

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        pushed = super().push_screen(screen, *args, **kwargs)
        if self._held_keys is not None and isinstance(screen, Screen):
            self._hold_gen += 1  # the read's own release does nothing now
            self.call_after_refresh(self._release_when_up, screen, self._hold_gen)
        return pushed

    def _release_when_up(self, screen: Screen[Any], mark: int) -> None:
        """The held keys go to `screen` once it is mounted and has its focus."""
        if mark != self._hold_gen:
            return
        if screen.is_mounted and self.screen is screen:
            self.release_keys(mark)
        elif screen in self.screen_stack:
            self.call_after_refresh(self._release_when_up, screen, mark)
        else:
            self.release_keys(mark)

    async def on_event(self, event: events.Event) -> None:
        # both a key just read from the terminal and one that went to the focused widget and
        # came back up unhandled (the bindings are looked up as it reaches the app): the second
        # key of a burst is already on its way to the widget when the first one's binding starts
        # the flow. Keys a widget takes itself (a list's arrows) are not held.
        if self._held_keys is not None and isinstance(event, (events.Key, events.Paste)):
            self._held_keys.append(event)
            return
        await super().on_event(event)

    def depot_changed(self, reveal: str | None = None, *, elsewhere: bool = False) -> None:
        """Refresh every screen of the current stack that shows the database. After this
        console's own action the keys offered are worked out again (undo is open now); a change
        made `elsewhere` (seen by the watch) leaves them to the screens, which refresh them when
        something they depend on changed (the highlighted card, its actions)."""
        for screen in self.screen_stack:
            handler = getattr(screen, "depot_changed", None)
            if callable(handler):
                handler(reveal=reveal)
        if not elsewhere:
            self.refresh_bindings()

    # ------------------------------------------------------------------ screens
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mode":
            mode = str(parameters[0]) if parameters else ""
            return mode == "dispatch" or (mode in self._modes and mode != "_default")
        return True

    async def action_mode(self, mode: str) -> None:
        if mode in self._modes and self.current_mode != mode:
            try:
                await self.switch_mode(mode)
            except Exception as e:  # noqa: BLE001 - another part's screen failed to load: say so, stay
                self.notify(f"That screen cannot open: {e}", severity="error", markup=False)
                return
            handler = getattr(self.screen, "depot_changed", None)
            if callable(handler):
                handler()

    def take_prefetch(self) -> BoardData | None:
        prefetch, self._prefetch = self._prefetch, None
        return prefetch.take() if prefetch is not None else None

    def open_order(self, number: str) -> None:
        from .screens.detail import OrderDetailScreen

        self.push_screen(OrderDetailScreen(number))

    def on_dispatch_screen_drawn(self, message: DispatchScreen.Drawn) -> None:
        if self.drawn_at is None:
            self.drawn_at = time.perf_counter()
            self.drawn_wall = time.time()
            # Everything made while starting (Textual, SQLAlchemy, the styles, the first board)
            # lives as long as the console: keep it out of the collector's full passes, which
            # otherwise stall the screen for 100-400 ms every 10-20 s of use (bench_lock.py).
            gc.freeze()
            gc.enable()  # paused by the command while it started (cli/console.py)
            if self.exit_when_drawn:
                self.exit()
            else:
                threading.Thread(target=_import_later, name="dispatchdesk-import-later", daemon=True).start()

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        out: list[tuple[str, Any, str]] = [
            ("Dispatch screen", lambda: self.run_action("mode('dispatch')"), "1"),
            ("Order reception: the incoming orders", lambda: self.run_action("mode('reception')"), "2"),
        ]
        out.append(("New order (taken by phone)…", lambda: self.flows.start(self.flows.new_order()), "n"))
        if "link" in self._modes:
            out.append(("Link screen: notices and follow-ups", lambda: self.run_action("mode('link')"), "3"))
        if "partners" in self._modes:
            out.append(("Partners screen", lambda: self.run_action("mode('partners')"), "4"))
        out.append(("Report: work done, rejections and cancellations", lambda: self.run_action("mode('report')"), "5"))
        out.append(("Rules screen: what happens by itself", lambda: self.run_action("mode('rules')"), "6"))
        return out


def run(depot: Depot, *, demo: bool = False, listen: str | None = None, relay: bool = True) -> None:
    """Run the console on `depot` until the dispatcher quits, a SIGTERM or SIGHUP comes, or the
    terminal goes away (blocking). The caller closes `depot` afterwards."""
    from .terminal import run_in_terminal

    run_in_terminal(lambda: DeskApp(depot, demo=demo, listen=listen, relay=relay))
