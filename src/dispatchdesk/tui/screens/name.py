"""Ask for one name (a saved view's): one line, checked by the services when it is saved.

| Key | Action |
| --- | --- |
| enter | Save |
| escape | Close without saving |
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ...text import clean
from ..css import stylesheet


class NameScreen(ModalScreen[str | None]):
    """Dismisses with the typed name, or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, hint: str, *, value: str = "", error: str = "", blink: bool = True,
                 max_length: int = 0) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.hint = hint
        self.value = value
        self.error = error
        self.blink = blink
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="name-dialog"):
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="dialog-title")
            yield Static(Text(clean(self.hint)), classes="dialog-hint")
            field = Input(value=clean(self.value, single_line=True), id="name-input", select_on_focus=False,
                          max_length=self.max_length)
            field.cursor_blink = self.blink
            yield field
            if self.error:
                yield Static(Text(clean(self.error), style="bold"), id="name-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Save (enter)"), id="name-save", variant="primary")
                yield Button(Text("Close (esc)"), id="name-close")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one(Input).value if event.button.id == "name-save" else None)

    def action_close(self) -> None:
        self.dismiss(None)
