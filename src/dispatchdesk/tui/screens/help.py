"""`?`: the keys of the screen it was opened on, what the mouse does, and the card marks."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..css import stylesheet
from ..symbols import CARRIED, MARKS, SELECTED

#: How a key is written for a person (Textual's names on the left).
KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "esc", "shift+f10": "shift+F10", "enter": "enter",
             "pageup": "page up", "pagedown": "page down", "full_stop": ".", "comma": ","}
#: Key names that only repeat another key for some terminals (f16 is what some send for shift+F10).
ALIASES = frozenset({"f16"})


def key_names(keys: str) -> str:
    """'o,shift+f10,f16' -> 'o  shift+F10': the keys of a binding, as a person writes them."""
    return "  ".join(KEY_NAMES.get(k, k) for k in keys.split(",") if k and k not in ALIASES)


def legend() -> Text:
    out = Text("Marks on a card\n", style="bold")
    for symbol, meaning in MARKS.values():
        out.append(f"  {symbol}  ", style="bold")
        out.append(meaning + "\n")
    out.append(f"  {SELECTED}  ", style="bold")
    out.append("selected for a bulk action\n")
    out.append(f"  {CARRIED}  ", style="bold")
    out.append("being moved (drag, or m from the keyboard)\n")
    out.append("  ← partner  ", style="bold")
    out.append("came from that partner;  ")
    out.append("→ partner  ", style="bold")
    out.append("that partner has it now (sent to them)\n")
    return out


class HelpScreen(ModalScreen[None]):

    CSS_PATH = stylesheet("dialogs.tcss")
    BINDINGS = [Binding("escape,question_mark,q,enter", "close", "Close")]

    def __init__(self, title: str, keys: Sequence[tuple[str, str, bool]], notes: Sequence[str] = (),
                 *, show_legend: bool = True, not_now: str = "(not now: the key says why)") -> None:
        super().__init__(classes="dialog-screen")
        self.not_now = not_now
        self.title_text = title
        self.keys = list(keys)
        self.notes = list(notes)
        self.show_legend = show_legend

    def compose(self) -> ComposeResult:
        body = Text("Keys\n", style="bold")
        width = max((len(k) for k, _, _ in self.keys), default=4)
        for key, what, available in self.keys:
            body.append(f"  {key:<{width}}  ", style="bold")
            body.append(what)
            if not available:
                body.append(f"  {self.not_now}", style="dim")
            body.append("\n")
        if self.notes:
            body.append("\n")
            for note in self.notes:
                body.append(note + "\n")
        if self.show_legend:
            body.append("\n")
            body.append_text(legend())
        with Vertical(classes="dialog", id="help"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body)
            yield Static(Text("esc or ? closes", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
