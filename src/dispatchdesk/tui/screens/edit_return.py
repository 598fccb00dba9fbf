"""The Edit… form (SPEC 4.10) and the Register return… form (SPEC 4.11), shared by the board,
the order detail and order reception.

Neither form decides anything: `check(...)` (the services' preview, awaited off the event loop)
returns the sentences that refuse what is typed; the form shows them and stays open, and checks
again as the dispatcher corrects the fields. ctrl+s saves (then the Yes/No confirm says what
happens, old → new per field); Esc closes without changing anything.

| Key | Action |
| --- | --- |
| tab / shift+tab, enter | Next / previous field |
| ctrl+s | Save (Edit…) / Register (Register return…) |
| ctrl+n | A new return number (Register return…) |
| escape | Close without changing anything |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...domain import ReturnReason
from ...services.changes import ReturnContext, when_words
from ...services.queries import OrderDetail
from ...text import clean
from ..css import stylesheet

#: (field, label) of the Edit… form, in order
EDIT_FIELDS = (
    ("pickup_address", "Pickup address"),
    ("delivery_address", "Delivery address"),
    ("pickup_after", "Pickup after"),
    ("deliver_by", "Deliver by"),
    ("parcels", "Parcels"),
    ("weight_kg", "Weight (kg)"),
)

RETURN_REASONS: dict[ReturnReason, str] = {
    ReturnReason.DAMAGED: "Damaged",
    ReturnReason.WRONG_ARTICLE: "Wrong article",
    ReturnReason.NOT_WANTED: "Not wanted",
    ReturnReason.REFUSED_ON_DELIVERY: "Refused on delivery",
    ReturnReason.LATE: "Late",
    ReturnReason.OTHER: "Other (say what in the comment)",
}

#: what the Edit… form dismisses with: the fields changed (text as typed) and the line quantities
EditAnswer = tuple[dict[str, str], dict[str, str]]


class _Form(ModalScreen[Any]):
    CSS_PATH = stylesheet("dialogs.tcss")

    def __init__(self, *, blink: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self.blink = blink
        self.shown_problems = False

    def _input(self, value: str, id: str, placeholder: str = "", *, integer: bool = False) -> Input:
        field = Input(value=value, placeholder=placeholder, id=id, type="integer" if integer else "text",
                      select_on_focus=False)
        field.cursor_blink = self.blink
        return field

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

    async def _problems(self) -> tuple[Any, list[str]]:
        raise NotImplementedError

    async def action_submit(self) -> None:
        answer, problems = await self._problems()
        if problems:
            self.show_problems(problems)
            self.shown_problems = True
            return
        self.dismiss(answer)

    @on(Input.Changed)
    @on(Select.Changed)
    def _recheck(self) -> None:
        """Once errors are shown, they follow the fields: a fixed one goes away."""
        if self.shown_problems:
            self.run_worker(self._recheck_now, exclusive=True, group="recheck")

    async def _recheck_now(self) -> None:
        _, problems = await self._problems()
        self.show_problems(problems)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            await self.action_submit()
        else:
            self.dismiss(None)


class EditForm(_Form):
    """Dismisses with (fields changed, line quantities changed), each as typed, or None."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Save"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        detail: OrderDetail,
        *,
        check: Callable[[EditAnswer], Awaitable[Sequence[str]]] | None = None,
        blink: bool = True,
        initial: EditAnswer | None = None,
    ) -> None:
        super().__init__(blink=blink)
        self.detail = detail
        self.check = check
        self.initial = initial
        d = detail
        #: the text each field starts with: only what differs from it is a change
        self.start: dict[str, str] = {
            "pickup_address": d.pickup_address,
            "delivery_address": d.delivery_address,
            "pickup_after": when_words(d.pickup_after) if d.pickup_after else "",
            "deliver_by": when_words(d.deliver_by) if d.deliver_by else "",
            "parcels": str(d.parcels),
            "weight_kg": f"{d.weight_kg:g}",
        }
        self.start_lines = {ln.article: str(ln.quantity) for ln in d.lines}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="edit-order"):
            yield Static(Text.assemble(("Edit order ", "bold"),
                                       (clean(self.detail.number, single_line=True), "bold"),
                                       f" · {self.detail.status.label}"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                with Grid(classes="form-grid"):
                    for key, label in EDIT_FIELDS:
                        yield Label(label, classes="form-label")
                        hint = "2025-03-15 14:00, or empty" if key in ("pickup_after", "deliver_by") else ""
                        yield self._input(self.start[key], key, hint, integer=key == "parcels")
                yield Static(Text("Lines: the quantity ordered (0 removes the line)", style="bold"),
                             classes="form-section")
                with Grid(classes="form-grid lines-grid"):
                    for i, ln in enumerate(self.detail.lines):
                        label = Text(clean(ln.article, single_line=True, limit=30), style="bold")
                        if ln.cancelled:
                            label.append(f"  ({ln.cancelled} cancelled)", style="dim")
                        yield Label(label, classes="form-label")
                        yield self._input(str(ln.quantity), f"qty-{i}", integer=True)
                yield Static("", id="form-errors", markup=False)
            yield Static(Text("tab next field · ctrl+s save · esc close", style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Save (ctrl+s)"), id="save", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def on_mount(self) -> None:
        if self.initial is not None:
            fields, lines = self.initial
            for key, value in fields.items():
                self.query_one(f"#{key}", Input).value = value
            for i, ln in enumerate(self.detail.lines):
                if ln.article in lines:
                    self.query_one(f"#qty-{i}", Input).value = lines[ln.article]
        self.query_one("#pickup_address", Input).focus()

    def answer(self) -> EditAnswer:
        fields = {}
        for key, _ in EDIT_FIELDS:
            value = self.query_one(f"#{key}", Input).value
            if value.strip() != self.start[key].strip():
                fields[key] = value
        lines = {}
        for i, ln in enumerate(self.detail.lines):
            value = self.query_one(f"#qty-{i}", Input).value
            if value.strip() != self.start_lines[ln.article]:
                lines[ln.article] = value
        return fields, lines

    async def _problems(self) -> tuple[EditAnswer, list[str]]:
        answer = self.answer()
        problems: list[str] = []
        if self.check is not None:
            problems = list(await self.check(answer))
        return answer, problems


#: what the Register return… form dismisses with: reason, comment, number, line quantities typed
ReturnAnswer = tuple[str | None, str, str, dict[str, str]]


class ReturnForm(_Form):
    """Dismisses with (reason, comment, return number, {article: quantity typed}), or None."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Register"),
        Binding("ctrl+n", "new_number", "New number"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        ctx: ReturnContext,
        *,
        check: Callable[[ReturnAnswer], Awaitable[Sequence[str]]] | None = None,
        new_number: Callable[[], Awaitable[str]] | None = None,
        blink: bool = True,
        initial: ReturnAnswer | None = None,
    ) -> None:
        super().__init__(blink=blink)
        self.ctx = ctx
        self.lines = [ln for ln in ctx.lines if ln.left > 0]
        self.check = check
        self.new_number = new_number
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="register-return"):
            yield Static(Text.assemble(("Register return · order ", "bold"),
                                       (clean(self.ctx.number, single_line=True), "bold")),
                         classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                with Grid(classes="form-grid"):
                    yield Label("Reason", classes="form-label")
                    yield Select([(Text(text), r.value) for r, text in RETURN_REASONS.items()],
                                 prompt="(choose the reason)", allow_blank=True, id="reason")
                    yield Label("Comment to the partner", classes="form-label")
                    yield self._input("", "comment", "goes with the notice (OTHER needs one)")
                    yield Label("Return number", classes="form-label")
                    yield self._input(self.ctx.return_number, "number")
                yield Static(Text("Lines coming back (default: all that can; the status stays)", style="bold"),
                             classes="form-section")
                if not self.lines:
                    yield Static(Text("Everything on this order has already come back."), classes="form-note")
                with Grid(classes="form-grid lines-grid"):
                    for i, ln in enumerate(self.lines):
                        label = Text(clean(ln.article, single_line=True, limit=30), style="bold")
                        if ln.description:
                            label.append(" ")
                            label.append(clean(ln.description, single_line=True, limit=40))
                        label.append(f"  (up to {ln.left})", style="dim")
                        yield Label(label, classes="form-label")
                        yield self._input(str(ln.left), f"qty-{i}", f"0 to {ln.left}", integer=True)
                yield Static("", id="form-errors", markup=False)
            yield Static(Text("tab next field · ctrl+s register · ctrl+n new number · esc close", style="dim"),
                         classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Register (ctrl+s)"), id="save", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def on_mount(self) -> None:
        if self.initial is not None:
            reason, comment, number, lines = self.initial
            if reason:
                self.query_one("#reason", Select).value = reason
            self.query_one("#comment", Input).value = comment
            self.query_one("#number", Input).value = number
            for i, ln in enumerate(self.lines):
                if ln.article in lines:
                    self.query_one(f"#qty-{i}", Input).value = lines[ln.article]
        self.query_one("#reason", Select).focus()

    def answer(self) -> ReturnAnswer:
        value = self.query_one("#reason", Select).value
        quantities: Mapping[str, str] = {
            ln.article: self.query_one(f"#qty-{i}", Input).value for i, ln in enumerate(self.lines)
        }
        return (
            value if isinstance(value, str) else None,
            self.query_one("#comment", Input).value,
            self.query_one("#number", Input).value,
            dict(quantities),
        )

    async def _problems(self) -> tuple[ReturnAnswer, list[str]]:
        answer = self.answer()
        problems: list[str] = []
        if self.check is not None:
            problems = list(await self.check(answer))
        return answer, problems

    async def action_new_number(self) -> None:
        if self.new_number is not None:
            self.query_one("#number", Input).value = await self.new_number()
