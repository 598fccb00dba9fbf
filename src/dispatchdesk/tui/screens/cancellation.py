"""The cancellation form (SPEC 4.4), reused by the dispatch screen and by order reception.

Reason code, a comment that goes to the partner, an internal note that never leaves the
depot, the cancellation number (filled in with a fresh one, editable) and the quantity to
cancel of every open line (default: all of it; fewer is a partial cancellation).

The form checks nothing itself: `check(request)` (the services' preview, awaited off the
event loop) returns the sentences that refuse it; the form shows them and stays open, and
checks again as the dispatcher corrects the fields, so a fixed error goes away. `initial`
fills the form again with what was typed (after No on the confirm).

| Key | Action |
| --- | --- |
| tab / shift+tab, enter | Next / previous field |
| ctrl+s | Send the cancellation (then a Yes/No confirm says what happens) |
| ctrl+n | A new cancellation number |
| escape | Close without cancelling |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...domain import CancellationRequest, ReasonCode
from ...services.queries import LineView
from ...text import clean
from ..css import stylesheet

REASONS: dict[ReasonCode, str] = {
    ReasonCode.NOT_IN_STOCK: "Not in stock",
    ReasonCode.DAMAGED: "Damaged",
    ReasonCode.INCOMPLETE: "Incomplete",
    ReasonCode.CLIENT_CANCELLED: "Client cancelled",
    ReasonCode.INVALID_ADDRESS: "Invalid address",
    ReasonCode.OTHER: "Other (say what in the comment)",
}


class CancellationForm(ModalScreen[CancellationRequest | None]):
    """Dismisses with the CancellationRequest the dispatcher filled in, or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("ctrl+s", "submit", "Send"),
        Binding("ctrl+n", "new_number", "New number"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        order: str,
        lines: Sequence[LineView],
        number: str,
        *,
        check: Callable[[CancellationRequest], Awaitable[Sequence[str]]] | None = None,
        new_number: Callable[[], Awaitable[str]] | None = None,
        blink: bool = True,
        initial: CancellationRequest | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.order = order
        self.lines = [ln for ln in lines if ln.quantity - ln.cancelled > 0]
        self.had_lines = bool(lines)
        self.number = number
        self.check = check
        self.new_number = new_number
        self.blink = blink
        self.initial = initial
        self.shown_problems = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="cancellation"):
            yield Static(Text.assemble(("Create cancellation · order ", "bold"),
                                       (clean(self.order, single_line=True), "bold")), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                with Grid(classes="form-grid"):
                    yield Label("Reason code", classes="form-label")
                    yield Select([(Text(text), code.value) for code, text in REASONS.items()],
                                 prompt="(no reason code)", allow_blank=True, id="reason")
                    yield Label("Comment to the partner", classes="form-label")
                    yield self._input("", "comment", "goes to the partner with the cancellation")
                    yield Label("Internal note", classes="form-label")
                    yield self._input("", "note", "stays in the depot")
                    yield Label("Cancellation number", classes="form-label")
                    yield self._input(self.number, "number", "")
                yield Static(Text("Lines to cancel (default: all that is open; fewer = partial)", style="bold"),
                             classes="form-section")
                if not self.lines:
                    yield Static(Text("This order has no lines: the whole order is cancelled."
                                      if not self.had_lines else "Every line is already cancelled."),
                                 classes="form-note")
                with Grid(classes="form-grid lines-grid"):
                    for i, ln in enumerate(self.lines):
                        open_qty = ln.quantity - ln.cancelled
                        label = Text(clean(ln.article, single_line=True, limit=30), style="bold")
                        if ln.description:
                            label.append(" ")
                            label.append(clean(ln.description, single_line=True, limit=40))
                        label.append(f"  (open {open_qty} of {ln.quantity})", style="dim")
                        yield Label(label, classes="form-label")
                        yield self._input(str(open_qty), f"qty-{i}", f"0 to {open_qty}", integer=True)
                yield Static("", id="form-errors", markup=False)
            yield Static(Text("tab next field · ctrl+s send · ctrl+n new number · esc close", style="dim"),
                         classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Send (ctrl+s)"), id="send", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def _input(self, value: str, id: str, placeholder: str, *, integer: bool = False) -> Input:
        field = Input(value=value, placeholder=placeholder, id=id, type="integer" if integer else "text",
                      select_on_focus=False)
        field.cursor_blink = self.blink
        return field

    def on_mount(self) -> None:
        init = self.initial
        if init is not None:
            if init.reason is not None:
                self.query_one("#reason", Select).value = init.reason.value
            self.query_one("#comment", Input).value = init.comment
            self.query_one("#note", Input).value = init.internal_note
            self.query_one("#number", Input).value = init.number
            for i, ln in enumerate(self.lines):
                if init.lines:
                    self.query_one(f"#qty-{i}", Input).value = str(init.lines.get(ln.article, 0))
        self.query_one("#reason", Select).focus()

    # ------------------------------------------------------------------ reading the form
    def request(self) -> tuple[CancellationRequest | None, list[str]]:
        problems: list[str] = []
        value = self.query_one("#reason", Select).value
        reason = ReasonCode(value) if isinstance(value, str) else None
        quantities: dict[str, int] = {}
        for i, ln in enumerate(self.lines):
            raw = self.query_one(f"#qty-{i}", Input).value.strip()
            open_qty = ln.quantity - ln.cancelled
            try:
                qty = int(raw) if raw else 0
            except ValueError:
                problems.append(f"The quantity of {clean(ln.article, single_line=True)} must be a whole number.")
                continue
            if not 0 <= qty <= open_qty:
                problems.append(
                    f"The quantity of {clean(ln.article, single_line=True)} must be from 0 to {open_qty}.")
                continue
            quantities[ln.article] = qty
        if problems:
            return None, problems
        req = CancellationRequest(
            reason=reason,
            comment=self.query_one("#comment", Input).value,
            internal_note=self.query_one("#note", Input).value,
            number=self.query_one("#number", Input).value.strip(),
            lines={a: q for a, q in quantities.items()},
        )
        return req, []

    def show_problems(self, problems: Sequence[str]) -> None:
        errors = self.query_one("#form-errors", Static)
        text = Text()
        for i, p in enumerate(problems):
            if i:
                text.append("\n")
            text.append("✗ ", style="bold")
            text.append(clean(p))
        errors.update(text)
        errors.set_class(bool(problems), "-shown")
        if problems:
            self.query_one(".dialog-body", VerticalScroll).scroll_end(animate=False)

    # ------------------------------------------------------------------ actions
    async def _problems(self) -> tuple[CancellationRequest | None, list[str]]:
        req, problems = self.request()
        if req is not None and self.check is not None:
            problems = list(await self.check(req))
        return req, problems

    async def action_submit(self) -> None:
        req, problems = await self._problems()
        if problems or req is None:
            self.show_problems(problems)
            self.shown_problems = True
            return
        self.dismiss(req)

    @on(Input.Changed)
    @on(Select.Changed)
    def _recheck(self) -> None:
        """Once errors are shown, they follow the fields: a fixed one goes away."""
        if self.shown_problems:
            self.run_worker(self._recheck_now, exclusive=True, group="recheck")

    async def _recheck_now(self) -> None:
        _, problems = await self._problems()
        self.show_problems(problems)

    async def action_new_number(self) -> None:
        if self.new_number is not None:
            self.query_one("#number", Input).value = await self.new_number()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            await self.action_submit()
        else:
            self.dismiss(None)
