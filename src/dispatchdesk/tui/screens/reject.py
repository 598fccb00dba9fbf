"""The Reject… dialog (SPEC 4.5) and the Refuse cancellation request… dialog (SPEC 4.6), used
on order reception and on the dispatch screen.

Reject…: the four checks of SPEC 4.5, each shown passed (✓) or failed (✗, with the services'
sentence); a reason code (the partner's default filled in); a switch "notify the buyer" and,
when it is on, the message that goes with the notice; the services' warning that the
rejection is final once the undo window has closed. The dialog decides nothing: ctrl+s hands
back what was chosen, and the services' preview (the confirm) says what will happen.

| Key | Action |
| --- | --- |
| tab / shift+tab | Next / previous field |
| space | Switch "notify the buyer" on or off (when it has the focus) |
| ctrl+s | Reject (then the Yes/No confirm) |
| escape | Close without rejecting |
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from ...domain import ReasonCode
from ...services.queries import RejectContext
from ...text import clean
from ..css import stylesheet
from .cancellation import REASONS


class OnOff(Widget, can_focus=True):
    """A switch that reads without colour: `[x] on: …` / `[ ] off: …`. Space, enter or a click
    turns it over."""

    BINDINGS = [Binding("space,enter", "toggle", "Switch", show=False)]

    value: reactive[bool] = reactive(False)

    class Changed(Message):
        def __init__(self, switch: OnOff, value: bool) -> None:
            super().__init__()
            self.switch = switch
            self.value = value

    def __init__(self, value: bool, *, on: str, off: str, id: str | None = None, disabled: bool = False) -> None:
        super().__init__(id=id, disabled=disabled)
        self.set_reactive(OnOff.value, value)
        self.on_words = on
        self.off_words = off

    def render(self) -> Text:
        if self.value:
            return Text.assemble(("[x] on", "bold"), f": {self.on_words}")
        return Text.assemble(("[ ] off", "bold"), f": {self.off_words}")

    def watch_value(self, value: bool) -> None:
        self.post_message(self.Changed(self, value))

    def action_toggle(self) -> None:
        self.value = not self.value

    def on_click(self) -> None:
        if not self.disabled:
            self.value = not self.value


@dataclass(frozen=True)
class RejectChoice:
    """What the dispatcher chose in the Reject… dialog."""

    code: ReasonCode | None
    notify_buyer: bool
    message: str


def check_lines(ctx: RejectContext) -> Text:
    """The four checks, one a line: ✓ passed / ✗ failed and why (symbols and words: NO_COLOR)."""
    text = Text()
    for i, c in enumerate(ctx.checks):
        if i:
            text.append("\n")
        if c.passed:
            text.append("✓ ", style="bold")
            text.append(c.label)
            text.append(": passed", style="dim")
        else:
            text.append("✗ ", style="bold")
            text.append(c.label, style="bold")
            text.append(": failed. ", style="bold")
            text.append(clean(c.refusal))
    return text


class RejectForm(ModalScreen[RejectChoice | None]):
    """Dismisses with the RejectChoice, or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("ctrl+s", "submit", "Reject"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, ctx: RejectContext, *, initial: RejectChoice | None = None, blink: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self.ctx = ctx
        self.initial = initial
        self.blink = blink

    def compose(self) -> ComposeResult:
        ctx = self.ctx
        with Vertical(classes="dialog form", id="reject"):
            yield Static(Text.assemble(("Reject order ", "bold"), (clean(ctx.number, single_line=True), "bold"),
                                       f" · {ctx.status.label}"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Text("The checks (SPEC 4.5)", style="bold"), classes="form-section-top")
                yield Static(check_lines(ctx), id="reject-checks")
                with Grid(classes="form-grid", id="reject-grid"):
                    yield Label("Reason code", classes="form-label")
                    code = self._initial_code()
                    options = [(Text(text), c.value) for c, text in REASONS.items()]
                    if code:
                        yield Select(options, prompt="(no reason code)", allow_blank=True, id="reason", value=code)
                    else:
                        yield Select(options, prompt="(no reason code)", allow_blank=True, id="reason")
                    buyer = Text("Notify the buyer")
                    if ctx.buyer:
                        buyer.append(" (")
                        buyer.append(clean(ctx.buyer, single_line=True, limit=20))
                        buyer.append(")")
                    yield Label(buyer, classes="form-label")
                    yield OnOff(self.initial.notify_buyer if self.initial else bool(ctx.buyer),
                                on="the buyer is told, with the message", off="the buyer is NOT told",
                                id="notify", disabled=not ctx.buyer)
                    yield Label("Message to the buyer", classes="form-label", id="message-label")
                    message = Input(value=self.initial.message if self.initial else "",
                                    placeholder="goes with the notice", id="message", select_on_focus=False)
                    message.cursor_blink = self.blink
                    yield message
                if not ctx.buyer:
                    yield Static(Text("This order is our own: there is no buyer to tell."), classes="reject-note")
                if ctx.warning:
                    yield Static(Text.assemble(("⚠ ", "bold"), ctx.warning), id="reject-warning")
                yield Static("", id="form-errors", markup=False)
            yield Static(Text("tab next field · space switches · ctrl+s reject · esc close", style="dim"),
                         classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Reject (ctrl+s)"), id="send", variant="error")
                yield Button(Text("Close (esc)"), id="close")

    def _initial_code(self) -> str | None:
        if self.initial is not None:
            return self.initial.code.value if self.initial.code else None
        return self.ctx.default_reason

    def on_mount(self) -> None:
        self._show_message()
        self.query_one("#reason", Select).focus()

    @on(OnOff.Changed)
    def _show_message(self) -> None:
        on_ = self.query_one("#notify", OnOff).value
        for w in (self.query_one("#message-label"), self.query_one("#message")):
            w.display = on_

    def choice(self) -> RejectChoice:
        value = self.query_one("#reason", Select).value
        notify = self.query_one("#notify", OnOff).value
        return RejectChoice(ReasonCode(value) if isinstance(value, str) else None, notify,
                            self.query_one("#message", Input).value if notify else "")

    def show_problems(self, problems: list[str]) -> None:
        errors = self.query_one("#form-errors", Static)
        text = Text("Cannot be rejected:\n" if problems else "", style="bold")
        for i, p in enumerate(problems):
            if i:
                text.append("\n")
            text.append("✗ ", style="bold")
            text.append(clean(p))
        errors.update(text)
        errors.set_class(bool(problems), "-shown")

    def action_submit(self) -> None:
        if not self.ctx.allowed:
            self.show_problems([c.refusal for c in self.ctx.checks if not c.passed])
            return
        self.dismiss(self.choice())

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_submit()
        else:
            self.dismiss(None)


class RefuseRequestForm(ModalScreen[str | None]):
    """SPEC 4.6: the answer to a cancellation request. Dismisses with the message, or None.

    | Key | Action |
    | --- | --- |
    | enter, ctrl+s | Refuse the request (then the Yes/No confirm) |
    | escape | Close |
    """

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("ctrl+s", "submit", "Refuse"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, number: str, asked: str = "", *, initial: str = "", problem: str = "",
                 blink: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self.number = number
        self.asked = asked
        self.initial = initial
        self.problem = problem
        self.blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="refuse-request"):
            yield Static(Text.assemble(("Refuse the cancellation request · order ", "bold"),
                                       (clean(self.number, single_line=True), "bold")), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                if self.asked:
                    yield Static(Text.assemble("They asked: ", clean(self.asked)), classes="reject-note")
                with Grid(classes="form-grid"):
                    yield Label("Answer to the partner", classes="form-label")
                    field = Input(value=self.initial, id="message", select_on_focus=False,
                                  placeholder="already picked up; it will be handled as a return")
                    field.cursor_blink = self.blink
                    yield field
                yield Static(Text(clean(self.problem)) if self.problem else "", id="form-errors", markup=False,
                             classes="-shown" if self.problem else "")
            yield Static(Text("enter or ctrl+s refuse · esc close", style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Refuse (ctrl+s)"), id="send", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def on_mount(self) -> None:
        self.query_one("#message", Input).focus()

    def action_submit(self) -> None:
        self.dismiss(self.query_one("#message", Input).value)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_submit()
        else:
            self.dismiss(None)
