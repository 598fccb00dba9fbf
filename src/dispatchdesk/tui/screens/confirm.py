"""Yes/No confirms: one order, or several at once (bulk), and the result of a bulk action.

Every sentence comes from the services (Preview.lines, and the rules that will fire with
their effects): the screen only lays them out, as literal text. On anything that cannot be
undone, No has the focus. The confirm of one order says who else has it open ("Also open at:
anna@depot2", services/presence.py), kept up to date while it is open.

| Key | Action |
| --- | --- |
| y | Yes |
| n / escape | No |
| w | Why not: why each other rule will not fire (shown or hidden) |
| a | Act without rules: the action is asked again, without its rules |
| left / right / tab | Move between the buttons |
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...text import clean
from ..css import stylesheet


def sentences(lines: Sequence[str], *, bullet: str = "• ") -> Text:
    """Outside-made sentences as literal text, one per line. A line the services indent (a
    rule's effects under the rule) stays indented under the one before, without a bullet."""
    out = Text()
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        if line[:1] == " " and line.strip():
            out.append(" " * len(bullet) + "  ")
            out.append(clean(line.strip()))
            continue
        out.append(bullet)
        out.append(clean(line))
    return out


#: What the confirm answers when the dispatcher asks to act without rules (key a).
WITHOUT_RULES = "without-rules"


class ConfirmScreen(ModalScreen[bool | str]):
    """Ask Yes or No, saying everything the action will do, the rules that will fire with it
    included. Dismisses with True, False, or WITHOUT_RULES (only when `without_rules` is
    allowed: the caller then asks again for the action without its rules)."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        Binding("w", "why_not", "Why not", show=False),
        Binding("a", "without_rules", "Without rules", show=False),
        Binding("left,right", "toggle_focus", "Switch", show=False),
    ]

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        final: bool,
        yes: str = "Yes",
        no: str = "No",
        focus_note: str = "No has the focus: this cannot be undone.",
        order: str | None = None,
        why_not: Sequence[str] = (),
        why_not_title: str = "",
        without_rules: bool = False,
        refused: bool = False,
    ) -> None:
        # why_not: for each rule that will not fire, why not (the services' reason);
        # without_rules: offer a (act without rules); refused: the lines say why there is no Yes
        super().__init__(classes="dialog-screen")
        #: the order this confirm is about: other consoles are told it is open here
        self.presence_order = order
        self.title_text = title
        self.lines = list(lines)
        self.final = final
        self.focus_note = focus_note
        self.yes = yes
        self.no = no
        self.why_not = list(why_not)
        self.why_not_title = why_not_title
        self.without_rules = without_rules
        self.refused = refused

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="dialog-title")
            if self.presence_order:
                yield Static("", id="confirm-others", classes="dialog-others", markup=False)
            with VerticalScroll(classes="dialog-body"):
                yield Static(sentences(self.lines), id="confirm-lines")
                if self.why_not:
                    why = Static(Text(clean(self.why_not_title, single_line=True), style="bold underline"),
                                 classes="confirm-section", id="confirm-why-not-title")
                    lines = Static(sentences(self.why_not, bullet="✗ "), id="confirm-why-not")
                    why.display = lines.display = False
                    yield why
                    yield lines
            if self.final and self.focus_note and not self.refused:
                yield Static(Text(self.focus_note, style="italic"), classes="dialog-hint")
            if self.why_not or self.without_rules:
                with Horizontal(classes="dialog-buttons rule-keys"):
                    if self.why_not:
                        yield Button(Text("Other rules: why not (w)"), id="why-not")
                    if self.without_rules:
                        yield Button(Text("Act without rules (a)"), id="without-rules")
            with Horizontal(classes="dialog-buttons" + (" -after-rule-keys" if self.why_not or self.without_rules
                                                        else "")):
                if not self.refused:
                    yield Button(Text(f"Yes (y): {self.yes}" if self.yes != "Yes" else "Yes (y)"), id="yes",
                                 variant="error" if self.final else "primary")
                yield Button(Text("No (n)" if self.no == "No" else f"No (n): {self.no}"), id="no")

    def on_mount(self) -> None:
        # (a key pressed at once may have answered already: the buttons are then gone)
        for button in self.query("#no" if self.final or self.refused else "#yes").results(Button):
            button.focus()
        if self.presence_order:
            self.presence_changed()
            _touch(self)

    def on_unmount(self) -> None:
        if self.presence_order:
            _touch(self)

    def presence_changed(self) -> None:
        """Who else has the order open: from the app's last read of who is here."""
        if not self.presence_order:
            return
        also = getattr(self.app, "also_open", None)
        text = also(self.presence_order) if callable(also) else ""
        for w in self.query("#confirm-others").results(Static):
            w.update(Text(clean(text), style="bold"))
            w.display = bool(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "why-not":
            self.action_why_not()
        elif event.button.id == "without-rules":
            self.action_without_rules()
        else:
            self.dismiss(event.button.id == "yes")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "why_not":
            return bool(self.why_not)
        if action == "without_rules":
            return self.without_rules
        if action == "answer" and parameters and parameters[0] is True:
            return not self.refused
        return True

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_why_not(self) -> None:
        """Show (or hide again) why each other rule will not fire."""
        if not self.why_not:
            return
        lines = self.query_one("#confirm-why-not", Static)
        shown = not lines.display
        lines.display = shown
        self.query_one("#confirm-why-not-title", Static).display = shown
        for button in self.query("#why-not").results(Button):
            button.label = Text("Other rules: hide (w)" if shown else "Other rules: why not (w)")
        if shown:
            self.query_one(VerticalScroll).scroll_to_widget(lines, animate=False, top=False)

    def action_without_rules(self) -> None:
        if self.without_rules:
            self.dismiss(WITHOUT_RULES)

    def action_toggle_focus(self) -> None:
        self.focus_next(Button)


def _touch(screen: ModalScreen[bool]) -> None:
    """Tell the app (once the screen stack has settled) which order is open now."""
    touch = getattr(screen.app, "presence_touch", None)
    if callable(touch):
        screen.app.call_later(touch)


class BulkConfirmScreen(ConfirmScreen):
    """One confirm for several orders: what happens to each, or why it is refused."""

    def __init__(self, title: str, items: Sequence[tuple[str, Sequence[str], bool]], *, final: bool,
                 focus_note: str = "") -> None:
        # items: (order number, sentences, allowed)
        super().__init__(title, [], final=final, focus_note=focus_note)
        self.items = list(items)

    def compose(self) -> ComposeResult:
        body = Text()
        for i, (number, lines, allowed) in enumerate(self.items):
            if i:
                body.append("\n")
            body.append("✓ " if allowed else "✗ ", style="bold")
            body.append(clean(number, single_line=True), style="bold")
            body.append("" if allowed else "  (refused: it stays as it is)")
            for line in lines:
                body.append("\n    ")
                body.append(clean(line))
        ok = sum(1 for _, _, a in self.items if a)
        with Vertical(classes="dialog", id="confirm"):
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="dialog-title")
            yield Static(Text(f"{ok} of {len(self.items)} can be done; each order is checked on its own."),
                         classes="dialog-hint")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body, id="confirm-lines")
            if self.final and self.focus_note:
                yield Static(Text(self.focus_note, style="italic"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Yes (y)"), id="yes", variant="error" if self.final else "primary")
                yield Button(Text("No (n)"), id="no")


class ResultScreen(ModalScreen[None]):
    """What a bulk action did, order by order."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [Binding("escape,enter,space", "close", "Close")]

    def __init__(self, title: str, items: Sequence[tuple[str, bool, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.items = list(items)

    def compose(self) -> ComposeResult:
        body = Text()
        for i, (number, ok, message) in enumerate(self.items):
            if i:
                body.append("\n")
            body.append("✓ done    " if ok else "✗ refused ", style="bold")
            body.append(clean(number, single_line=True), style="bold")
            body.append("\n    ")
            body.append(clean(message))
        with Vertical(classes="dialog", id="result"):
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body, id="result-lines")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Close (enter)"), id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
