"""The Rules screen (key 6, issue 14): the depot's automation rules, one line each, in the order
they are tried; add, edit, turn on and off, move, delete, and try one on an order.

| Key | Action |
| --- | --- |
| up / down | Move between rules |
| n | New rule (the form) |
| e, enter | Edit the highlighted rule |
| space | Turn the highlighted rule on or off |
| K, shift+up / J, shift+down | Move the rule up (tried earlier) / down |
| delete | Delete the rule (asks first) |
| t | Test the rule on an order: what would fire, or why not |
| o, shift+f10, menu | The rule's menu (right-click too) |
| ? | These keys |

Every sentence about what a rule does comes from the services (`services.rules`): the screen
lays out their words, and asks them (in a thread) to save, move, turn on or off and test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Offset
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Static

from ...services import ERRORS, DeleteRule, EnableRule, MoveRule, RuleView, rule_test, rules
from ...text import clean
from ..asking import ask_and_do
from ..css import stylesheet
from ..widgets.header import DeskHeader
from ..widgets.keybar import KeyBar
from .confirm import sentences
from .help import HelpScreen
from .menu import MenuItem, MenuScreen
from .name import NameScreen
from .rule_form import RuleForm, read_choices

__all__ = ["LinesScreen", "RulesScreen", "rule_line"]

#: (label, key, width at 80 columns, width from 120 columns); None = the rest of the line
COLUMNS = (("#", "pos", 3, 3), ("On", "on", 3, 3), ("Name", "name", 18, 30), ("When → then", "what", None, None))
WIDE = 120


def rule_line(r: RuleView) -> str:
    """The rule in short words for its line (the domain's); the whole sentence (the services'
    words) is under the list."""
    return r.rule.short()


class RulesTable(DataTable[Text]):
    """The rules; a right-click highlights the row under the pointer and asks for its menu."""

    class MenuRequested(Message):
        def __init__(self, at: Offset) -> None:
            super().__init__()
            self.at = at

    async def _on_click(self, event: events.Click) -> None:
        if event.button == 3:
            event.stop()
            meta = event.style.meta
            if "row" in meta and meta["row"] >= 0:
                self.move_cursor(row=meta["row"], animate=False)
                self.post_message(self.MenuRequested(event.screen_offset))
            return
        await super()._on_click(event)


class LinesScreen(ModalScreen[None]):
    """Sentences of the services under a title (what a test of a rule found)."""

    CSS_PATH = stylesheet("dialogs.tcss")
    BINDINGS = [Binding("escape,enter,space", "close", "Close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rule-test"):
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(sentences(self.lines), id="rule-test-lines")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Close (enter)"), id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class RulesScreen(Screen[None]):
    """The automation rules, in the order they are tried."""

    CSS_PATH = stylesheet("rules.tcss")

    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("e,enter", "edit", "Edit"),
        Binding("space", "toggle", "On/off"),
        Binding("K,shift+up", "move(True)", "Up"),
        Binding("J,shift+down", "move(False)", "Down"),
        Binding("delete", "delete", "Delete"),
        Binding("t", "test", "Test"),
        Binding("o,shift+f10,f16", "menu", "Menu", show=False),
        Binding("question_mark", "help", "Keys"),
    ]

    #: actions that need a highlighted rule
    RULE_ACTIONS = frozenset({"edit", "toggle", "move", "delete", "test", "menu"})

    def __init__(self) -> None:
        super().__init__(id="rules-screen")
        self.rules: list[RuleView] = []
        self.generation = 0
        self.loads = 0
        self._wide: int | None = None
        #: (rule id, version) -> how often it would have fired lately (read again after each change)
        self._backtests: dict[tuple[int, int], str] = {}
        self._fresh: set[tuple[int, int]] = set()  # read since the last change

    @property
    def depot(self) -> Any:
        return self.app.depot  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static(Text("Rules", style="bold"), id="rules-title")
        yield RulesTable(id="rules-table", cursor_type="row")
        yield Static("", id="rule-detail")
        yield Static("", id="rules-status")
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one(DeskHeader).view = "Rules"
        self._columns()
        self.query_one(RulesTable).focus()
        self.reload()

    def _columns(self) -> None:
        """(Re)make the columns for the screen's width; the last takes what is left."""
        width = self.size.width
        if width == self._wide:
            return
        self._wide = width
        wide = width >= WIDE
        table = self.query_one(RulesTable)
        table.clear(columns=True)
        fixed = [(broad if wide else narrow) for _, _, narrow, broad in COLUMNS[:-1]]
        rest = max(10, width - sum(fixed) - 2 * len(COLUMNS) - 1)
        for (label, key, _, _), w in zip(COLUMNS, [*fixed, rest], strict=True):
            table.add_column(Text(label, style="bold"), key=key, width=w)
        if self.rules:
            self._apply(self.generation, self.rules, None)

    def on_resize(self) -> None:
        if self.is_mounted and self._wide is not None:
            self._columns()

    # ------------------------------------------------------------------ loading
    def depot_changed(self, reveal: str | None = None) -> None:
        self.reload()

    def reload(self, select: int | None = None) -> None:
        self.generation += 1
        self._fresh.clear()
        self._load(self.generation, select)

    @work(thread=True, exclusive=True, group="rules", exit_on_error=False)
    def _load(self, generation: int, select: int | None) -> None:
        try:
            have = rules(self.depot)
        except ERRORS as e:
            self.app.call_from_thread(self._status, str(e), True)
            return
        self.app.call_from_thread(self._apply, generation, have, select)

    def _apply(self, generation: int, have: list[RuleView], select: int | None) -> None:
        if generation != self.generation:
            return
        table = self.query_one(RulesTable)
        keep = select if select is not None else self._current_id()
        self.rules = have
        table.clear()
        for r in have:
            table.add_row(
                Text(str(r.position), justify="right"),
                Text("on" if r.enabled else "off", style="bold" if r.enabled else "dim"),
                Text(clean(r.name, single_line=True, limit=100), style="" if r.enabled else "dim"),
                Text(clean(rule_line(r), single_line=True, limit=400), style="" if r.enabled else "dim"),
                key=str(r.id),
            )
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
            except Exception:  # noqa: BLE001 - that rule is gone (deleted)
                pass
        n = len(have)
        on_ = sum(1 for r in have if r.enabled)
        self.query_one("#rules-title", Static).update(Text.assemble(
            ("Rules", "bold"), f"  {n} rule{'s' if n != 1 else ''}, {on_} on · tried from the top · n: new"))
        self._show_detail()
        self.loads += 1
        self.refresh_bindings()

    def _current_id(self) -> int | None:
        table = self.query_one(RulesTable)
        if not table.row_count or table.cursor_row >= table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return int(key) if key is not None else None

    def current(self) -> RuleView | None:
        rid = self._current_id()
        return next((r for r in self.rules if r.id == rid), None)

    def _show_detail(self) -> None:
        r = self.current()
        detail = self.query_one("#rule-detail", Static)
        if r is None:
            detail.update(Text("No rules yet: press n to add one. A rule acts when an order enters a list, "
                               "gets a tag or arrives; every confirm shows it before it acts.", style="dim"))
            return
        out = Text()
        out.append(clean(r.name, single_line=True, limit=100), style="bold")
        out.append(f" · version {r.version} · {'on' if r.enabled else 'off'}")
        out.append(f" · changed by {clean(r.updated_by, single_line=True, limit=40)}")
        out.append("\n")
        out.append(clean(r.words, limit=600))
        backtest = self._backtests.get((r.id, r.version))
        if backtest is not None:
            out.append("\n")
            out.append(clean(backtest, single_line=True), style="italic")
        if (r.id, r.version) not in self._fresh:
            self._fresh.add((r.id, r.version))
            self._read_backtest(r.id, r.version)
        detail.update(out)

    @work(thread=True, exclusive=True, group="rule-backtest", exit_on_error=False)
    def _read_backtest(self, rid: int, version: int) -> None:
        """How often the highlighted rule would have fired lately (the services' sentence)."""
        try:
            found = rule_test(self.depot, rid)
        except ERRORS:
            return
        if found.lines:
            self.app.call_from_thread(self._backtest_read, rid, version, found.lines[-1])

    def _backtest_read(self, rid: int, version: int, sentence: str) -> None:
        self._backtests[(rid, version)] = sentence
        r = self.current()
        if r is not None and (r.id, r.version) == (rid, version):
            self._show_detail()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def _status(self, text: str, error: bool = False) -> None:
        self.query_one("#rules-status", Static).update(Text(clean(text, single_line=True), style="bold" if error else ""))
        if text:
            self.notify(clean(text), severity="error" if error else "information", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.RULE_ACTIONS:
            r = self.current()
            if r is None:
                return None
            if action == "move":
                i = self.rules.index(r)
                return True if (i > 0 if parameters and parameters[0] else i < len(self.rules) - 1) else None
        return True

    # ------------------------------------------------------------------ acting
    def _done(self, message: str, error: bool) -> None:
        self._status(message, error)
        self.reload()

    def action_new(self) -> None:
        self._open_form(None, self.app.hold_keys())

    def action_edit(self) -> None:
        r = self.current()
        if r is not None:
            self._open_form(r, self.app.hold_keys())

    @work(group="rules-form", exclusive=True)
    async def _open_form(self, r: RuleView | None, mark: int) -> None:
        # keys typed right after n (the rule's name, in one burst) are held for the form from
        # the key on (DeskApp.hold_keys), and handed to it once it is up
        try:
            choices = await asyncio.to_thread(read_choices, self.depot)
        except ERRORS as e:
            self._status(str(e), True)
            return
        finally:
            self.app.release_keys_later(mark)
        result = await self.app.push_screen_wait(RuleForm(self.depot, choices, r))
        if result is not None:
            self._status(result.message)
            self.reload(select=result.rule.id if result.rule is not None else None)

    def action_toggle(self) -> None:
        r = self.current()
        if r is None:
            return
        # turning on asks first (the rule acts from then on; the loop check may refuse);
        # turning off does not: the rule only stops acting
        ask_and_do(self, self.depot, EnableRule(r.id, not r.enabled), self._done, ask=not r.enabled)

    def action_move(self, up: bool) -> None:
        r = self.current()
        if r is None:
            return
        ask_and_do(self, self.depot, MoveRule(r.id, up=up),
                   lambda message, error: self._moved(r.id, message, error), ask=False)

    def _moved(self, rid: int, message: str, error: bool) -> None:
        self._status(message, error)
        self.reload(select=rid)

    def action_delete(self) -> None:
        r = self.current()
        if r is not None:
            ask_and_do(self, self.depot, DeleteRule(r.id), self._done)

    def action_test(self) -> None:
        r = self.current()
        if r is not None:
            self._test(r)

    @work(group="rules-test", exclusive=True)
    async def _test(self, r: RuleView) -> None:
        """Ask for an order's number, and show what the rule would do on it (or why not)."""
        number, error = "", ""
        name = clean(r.name, single_line=True, limit=50)
        while True:
            answer = await self.app.push_screen_wait(NameScreen(
                f"Test rule {name} on an order",
                "The order's number: the rule is tried on it as if its trigger happened now. "
                "Nothing changes.",
                value=number, error=error, blink=bool(getattr(self.app, "blink", True)), max_length=60))
            if answer is None:
                return
            number = answer.strip()
            if not number:
                error = "Type the number of an order."
                continue
            try:
                found = await asyncio.to_thread(rule_test, self.depot, r.id, number)
            except ERRORS as e:
                error = str(e)
                continue
            await self.app.push_screen_wait(LinesScreen(f"Rule {name} on order {number}", list(found.lines)))
            return

    def action_menu(self, at: Offset | None = None) -> None:
        r = self.current()
        if r is not None:
            self._menu(r, at)

    def on_rules_table_menu_requested(self, message: RulesTable.MenuRequested) -> None:
        message.stop()
        self.action_menu(message.at)

    @work(group="rules-menu", exclusive=True)
    async def _menu(self, r: RuleView, at: Offset | None) -> None:
        i = self.rules.index(r) if r in self.rules else 0
        items = [
            MenuItem("edit", "Edit…", "e"),
            MenuItem("toggle", "Turn off" if r.enabled else "Turn on", "space"),
            MenuItem("up", "Move up (tried earlier)", "K", refused=None if i > 0 else "It is tried first already."),
            MenuItem("down", "Move down (tried later)", "J",
                     refused=None if i < len(self.rules) - 1 else "It is tried last already."),
            MenuItem("test", "Test on an order…", "t"),
            MenuItem("delete", "Delete…", "del"),
            MenuItem("new", "New rule…", "n"),
        ]
        choice = await self.app.push_screen_wait(
            MenuScreen(f"Rule {clean(r.name, single_line=True, limit=40)}", items, at=at, menu_id="rule-menu"))
        if choice is None:
            return
        {"edit": self.action_edit, "toggle": self.action_toggle, "up": lambda: self.action_move(True),
         "down": lambda: self.action_move(False), "test": self.action_test, "delete": self.action_delete,
         "new": self.action_new}[choice]()

    # ------------------------------------------------------------------ help and palette
    HELP = (
        ("↑/↓", "move between rules", ""),
        ("n", "new rule: the form (trigger, conditions, effects)", "new"),
        ("e  enter", "edit the highlighted rule", "edit"),
        ("space", "turn the rule on or off", "toggle"),
        ("K  shift+↑", "move the rule up: tried earlier", "move_up"),
        ("J  shift+↓", "move the rule down: tried later", "move_down"),
        ("delete", "delete the rule (asks first)", "delete"),
        ("t", "test the rule on an order: what it would do, or why not", "test"),
        ("o  shift+F10", "the rule's menu (right-click too)", "menu"),
        ("1 … 6", "the screens", ""),
    )

    def action_help(self) -> None:
        def now(action: str) -> bool:
            if action in ("move_up", "move_down"):
                return self.check_action("move", (action == "move_up",)) is True
            return not action or self.check_action(action, ()) is True

        keys = [(k, what, now(action)) for k, what, action in self.HELP]
        notes = [
            "Rules are tried from the top. A rule fires on a change (an order enters a list, gets a tag, "
            "arrives), when all its conditions hold; \"then stop\" keeps the rules below it from firing.",
            "Every confirm shows the rules that will fire with the action: w there says why the others "
            "will not, a acts without rules.",
            "Saving a rule checks that the rules cannot loop or contradict each other, and says how often "
            "it would have fired in the last 7 days.",
        ]
        self.app.push_screen(HelpScreen("Rules: keys", keys, notes, show_legend=False, not_now="(not now)"))

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        out: list[tuple[str, Any, str]] = [("New rule…", self.action_new, "n")]
        r = self.current()
        if r is not None:
            name = clean(r.name, single_line=True, limit=40)
            out.append((f"Edit rule {name}…", self.action_edit, "e"))
            out.append((f"Turn rule {name} {'off' if r.enabled else 'on'}", self.action_toggle, "space"))
            out.append((f"Move rule {name} up", lambda: self.action_move(True), "K"))
            out.append((f"Move rule {name} down", lambda: self.action_move(False), "J"))
            out.append((f"Test rule {name} on an order…", self.action_test, "t"))
            out.append((f"Delete rule {name}…", self.action_delete, "delete"))
        return out
