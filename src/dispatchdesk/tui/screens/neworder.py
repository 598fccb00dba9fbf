"""The new-order form (issue 8 item 4): a phone order taken by keyboard alone.

From (a client or channel, by part of its name, or empty for an own order: then the
customer's name and phone), their reference, pickup and delivery address, pickup after /
deliver by (``14:00``, ``tomorrow 10:00``, ``mon 8``, ISO; what was understood is shown under
the field), parcels, weight, lines, tags and a note.

The form decides nothing: `check(form)` (the services' check_form, awaited off the event loop)
says what each field means and what is wrong with it. A field is checked as it is left, and
its problem shown under it; ctrl+s checks them all, names every problem and keeps the typing.
It dismisses with the OrderForm to create, or None.

Customer and Phone are for an own order only: while From names a partner (as the check reads
it: a whole name or a part only one partner's name holds) Tab skips them (they are disabled);
emptied again, From brings them back. That is decided as From is left, at once.

Keys typed in a burst (SSH on a slow link) land where they were meant: the keys that move the
cursor (tab, shift+tab, enter, ctrl+n, ctrl+r, ctrl+s) are priority bindings, which the App runs
as it takes the key from its queue, before it hands the next key of the burst on to the focused
field; each waits for the field being left to take the keys already handed to it, then moves
the focus with Screen.set_focus (at once; Widget.focus() waits for the message queue).

| Key | Action |
| --- | --- |
| tab / shift+tab, enter | Next / previous field |
| right (at the end of From) | Take the suggested partner's name |
| ctrl+n | Add a line |
| ctrl+r | Remove the line the cursor is on (or the last) |
| ctrl+s | Save: create the order |
| escape | Close (asks first when something was typed) |
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from ...services import Preview
from ...services.neworder import FormCheck, LineForm, OrderForm, match_partner
from ...text import clean
from ..css import stylesheet
from .confirm import ConfirmScreen

#: (field, label, placeholder): the form's single fields, in order (the lines come after weight)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("source", "From", "client or channel: part of its name; empty = own order"),
    ("customer", "Customer", "own order: the customer's name"),
    ("phone", "Phone", "own order: the customer's phone"),
    ("partner_ref", "Their reference", "the partner's order number"),
    ("pickup_address", "Pickup address", ""),
    ("delivery_address", "Delivery address", ""),
    ("pickup_after", "Pickup after", "14:00, tomorrow 10:00, mon 8, 2026-12-03 14:00"),
    ("deliver_by", "Deliver by", "14:00, tomorrow 10:00, mon 8, 2026-12-03 14:00"),
    ("parcels", "Parcels", "1"),
    ("weight_kg", "Weight (kg)", "0"),
)
AFTER_LINES: tuple[tuple[str, str, str], ...] = (
    ("tags", "Tags", "separated by commas"),
    ("note", "Note", "for the depot"),
)
LINE_PARTS = ("article", "description", "quantity")
#: the fields of an own order only: Tab skips them while From names a partner
OWN_ORDER_ONLY = ("customer", "phone")
#: how long a key that moves the cursor waits for the field it leaves to take its keys
CATCH_UP_S = 2.0


class NewOrderScreen(ModalScreen[OrderForm | None]):
    """Dismisses with the OrderForm to create (every field checked), or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    # priority: run by the App as the key arrives, before the next key of a burst is handed on
    BINDINGS = [
        Binding("tab", "next_field", "Next field", show=False, priority=True),
        Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True),
        Binding("enter", "enter", "Next field", show=False, priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+n", "add_line", "Add line", priority=True),
        Binding("ctrl+r", "remove_line", "Remove line", priority=True),
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        partners: Sequence[str],
        *,
        check: Callable[[OrderForm], Awaitable[FormCheck]],
        discard: Preview,
        blink: bool = True,
        initial: OrderForm | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.partners = list(partners)
        self.check = check
        self.discard = discard
        self.blink = blink
        self.initial = initial
        self._next_line = 0
        #: the fields left at least once (a line by its row's key): their problems are shown
        self.visited: set[str] = set()
        #: after a save was tried, every problem is shown
        self.tried = False
        self.last: FormCheck | None = None
        #: the lines whose row and message are mounted (a check may run while one is mounting)
        self._mounted_rows: set[str] = set()

    # ------------------------------------------------------------------ building
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="new-order"):
            yield Static(Text("New order · taken by phone", style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body", id="new-order-body"):
                for key, label, hint in FIELDS:
                    yield from self._field(key, label, hint)
                yield Static(Text.assemble(("Lines", "bold"), (" · article, description, quantity · "
                                                               "ctrl+n add, ctrl+r remove", "dim")),
                             classes="form-section")
                yield Vertical(id="lines")
                for key, label, hint in AFTER_LINES:
                    yield from self._field(key, label, hint)
                yield Static("", id="form-errors", markup=False)
            yield Static(Text("tab next · ctrl+n / ctrl+r add / remove line · ctrl+s save · esc close",
                              style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Save (ctrl+s)"), id="save", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def _field(self, key: str, label: str, hint: str) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield self._input(key, hint)
        yield Static("", id=f"msg-{key}", classes="field-msg", markup=False)

    def _input(self, id: str, placeholder: str, value: str = "", classes: str = "") -> Input:
        suggester = (SuggestFromList(self.partners, case_sensitive=False)
                     if id == "source" and self.partners else None)
        field = Input(value=value, placeholder=placeholder, id=id, select_on_focus=False,
                      suggester=suggester, classes=classes)
        field.cursor_blink = self.blink
        return field

    def _line_row(self, line: LineForm) -> tuple[Horizontal, Static]:
        k = self._next_line
        self._next_line += 1
        row = Horizontal(
            Label("", classes="line-number"),
            self._input(f"article-{k}", "article", line.article, "line-article"),
            self._input(f"description-{k}", "description", line.description, "line-description"),
            self._input(f"quantity-{k}", "qty", line.quantity, "line-quantity"),
            classes="line-row", id=f"line-{k}",
        )
        return row, Static("", id=f"msg-line-{k}", classes="field-msg", markup=False)

    async def on_mount(self) -> None:
        init = self.initial or OrderForm()
        for key, _, _ in (*FIELDS, *AFTER_LINES):
            self.query_one(f"#{key}", Input).value = getattr(init, key)
        for line in init.lines or (LineForm(),):
            await self._mount_line(line)
        self._own_order_fields()
        if self.initial is not None:
            self.tried = True
            self.run_worker(self._check_now, exclusive=True, group="check")
        self.set_focus(self.query_one("#source", Input))

    async def _mount_line(self, line: LineForm) -> Input:
        row, msg = self._line_row(line)
        await self.query_one("#lines", Vertical).mount(row, msg)
        self._mounted_rows.add(row.id or "")
        self._number_lines()
        return row.query_one(".line-article", Input)

    def _number_lines(self) -> None:
        for i, row in enumerate(self._rows(), 1):
            row.query_one(".line-number", Label).update(f"Line {i}")

    # ------------------------------------------------------------------ reading
    def _rows(self) -> list[Horizontal]:
        return [row for row in self.query(".line-row").results(Horizontal) if row.id in self._mounted_rows]

    def form(self) -> OrderForm:
        values = {key: self.query_one(f"#{key}", Input).value for key, _, _ in (*FIELDS, *AFTER_LINES)}
        lines = tuple(
            LineForm(*(row.query_one(f".line-{part}", Input).value for part in LINE_PARTS))
            for row in self._rows()
        )
        return OrderForm(lines=lines, **values)

    def _line_key(self, widget_id: str | None) -> str | None:
        """The row key ("line-3") of a line's input id ("quantity-3")."""
        if widget_id and widget_id.split("-")[0] in LINE_PARTS:
            return "line-" + widget_id.rsplit("-", 1)[1]
        return None

    # ------------------------------------------------------------------ showing
    def show(self, check: FormCheck) -> None:
        self.last = check
        shown: list[str] = []
        for key, _, _ in (*FIELDS, *AFTER_LINES):
            self._message(f"msg-{key}", key if (self.tried or key in self.visited) else None, check, key)
        for i, row in enumerate(self._rows(), 1):
            row_key = row.id or ""
            self._message(f"msg-{row_key}", f"line{i}" if (self.tried or row_key in self.visited) else None,
                          check, f"line{i}")
        source = self.query_one("#source", Input)
        if check.partner and not source.has_focus and source.value != check.partner:
            with source.prevent(Input.Changed):
                source.value = check.partner
        if self.tried:
            shown = list(check.problems.values())
        self._summary(shown)

    def _message(self, msg_id: str, key: str | None, check: FormCheck, field: str) -> None:
        msg = self.query_one(f"#{msg_id}", Static)
        problem = check.problems.get(field) if key else None
        understood = check.understood.get(field) if key else None
        if problem:
            msg.update(Text.assemble(("✗ ", "bold"), (clean(problem), "bold")))
        elif understood:
            msg.update(Text.assemble(("→ ", "dim"), (clean(understood), "dim")))
        else:
            msg.update("")
        msg.set_class(bool(problem), "-error")
        msg.set_class(bool(problem or understood), "-shown")

    def _summary(self, problems: Sequence[str]) -> None:
        errors = self.query_one("#form-errors", Static)
        text = Text()
        if problems:
            text.append(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} to put right before saving:",
                        style="bold")
        for p in problems:
            text.append("\n✗ ", style="bold")
            text.append(clean(p))
        errors.update(text)
        errors.set_class(bool(problems), "-shown")

    # ------------------------------------------------------------------ checking
    async def _check_now(self) -> FormCheck:
        check = await self.check(self.form())
        self.show(check)
        return check

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        self.visited.add(self._line_key(wid) or wid)
        if wid == "source":  # left by the mouse too
            self._own_order_fields()
        self.run_worker(self._check_now, exclusive=True, group="check")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        """Once a problem is shown, it follows the typing: a fixed one goes away."""
        if self.last is not None and self.last.problems and (self.tried or self.visited):
            self.run_worker(self._check_now, exclusive=True, group="check")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter is the screen's (action_enter); an Input never submits here

    # ------------------------------------------------------------------ keys in a burst
    async def _caught_up(self) -> None:
        """Wait until the focused field has taken the keys the App already handed to it (a
        callback posted behind them runs once they are done). Then what it holds is read
        right, and the focus can move on."""
        focused = self.focused
        if focused is None or not focused.is_running:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def arrived() -> None:
            if not done.done():
                done.set_result(None)

        if focused.call_later(arrived):
            try:
                await asyncio.wait_for(done, CATCH_UP_S)
            except TimeoutError:
                pass

    def _own_order_fields(self) -> None:
        """Customer and Phone: skipped by Tab (disabled) while From names a partner."""
        partner, _ = match_partner(self.partners, self.query_one("#source", Input).value)
        focused = self.focused
        for key in OWN_ORDER_ONLY:
            field = self.query_one(f"#{key}", Input)
            if partner is not None and field is focused:
                continue  # not taken from under the cursor (a click); decided when From is left next
            field.disabled = partner is not None
            if field.parent is not None:
                field.parent.set_class(partner is not None, "-not-needed")

    async def _move(self, step: int) -> None:
        await self._caught_up()
        if self.focused is not None and self.focused.id == "source":
            self._own_order_fields()
        if step > 0:
            self.focus_next()   # Screen.set_focus: at once
        else:
            self.focus_previous()

    async def action_next_field(self) -> None:
        await self._move(+1)

    async def action_previous_field(self) -> None:
        await self._move(-1)

    async def action_enter(self) -> None:
        """Enter in a field goes on to the next one; on a button it presses it."""
        if not isinstance(self.focused, Input):
            raise SkipAction()
        await self._move(+1)

    # ------------------------------------------------------------------ actions
    async def action_save(self) -> None:
        await self._caught_up()
        self._own_order_fields()
        self.tried = True
        check = await self._check_now()
        if check.ok:
            self.dismiss(self.form())
            return
        first = next(iter(check.problems))
        target: Input | None = None
        if first.startswith("line") and first[4:].isdigit():
            rows = self._rows()
            index = int(first[4:]) - 1
            if 0 <= index < len(rows):
                target = rows[index].query_one(".line-article", Input)
        elif self.query(f"#{first}"):
            target = self.query_one(f"#{first}", Input)
        if target is not None:
            self.set_focus(target)
            target.scroll_visible(animate=False)

    async def action_add_line(self) -> None:
        await self._caught_up()
        article = await self._mount_line(LineForm())
        self.set_focus(article)
        article.scroll_visible(animate=False)

    async def action_remove_line(self) -> None:
        await self._caught_up()
        rows = self._rows()
        if not rows:
            return
        focused = self.focused
        row = next((r for r in rows if focused is not None and focused in r.query(Input)), rows[-1])
        index = rows.index(row)
        msg = self.query_one(f"#msg-{row.id}", Static)
        self.visited.discard(row.id or "")
        self._mounted_rows.discard(row.id or "")
        await row.remove()
        await msg.remove()
        rest = self._rows()
        if not rest:
            await self._mount_line(LineForm())
            rest = self._rows()
        self._number_lines()
        self.set_focus(rest[min(index, len(rest) - 1)].query_one(".line-article", Input))
        self.run_worker(self._check_now, exclusive=True, group="check")

    def action_close(self) -> None:
        if self.form().empty:
            self.dismiss(None)
            return
        pv = self.discard

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(pv.title, pv.lines, final=pv.final, yes=pv.yes,
                                           focus_note=pv.focus_note), answered)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            await self.action_save()
        else:
            self.action_close()
