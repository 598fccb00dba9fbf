"""Tags of one order: edit them as a comma-separated list.

| Key | Action |
| --- | --- |
| enter / ctrl+s | Save |
| escape | Close without saving |
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ...text import clean
from ..css import stylesheet


def split_tags(text: str) -> list[str]:
    return [t for t in (" ".join(p.split()) for p in text.split(",")) if t]


class TagsScreen(ModalScreen[tuple[list[str], list[str]] | None]):
    """Dismisses with (tags to add, tags to remove), or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, order: str, tags: Sequence[str], *, known: Sequence[str] = (), blink: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self.order = order
        self.tags = list(tags)
        self.known = list(known)
        self.blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="tags"):
            yield Static(Text.assemble(("Tags · order ", "bold"), (clean(self.order, single_line=True), "bold")),
                         classes="dialog-title")
            yield Static(Text("Separate tags with commas. Remove a tag by deleting it."), classes="dialog-hint")
            field = Input(value=", ".join(clean(t, single_line=True) for t in self.tags), id="tags-input",
                          placeholder="urgent, fragile", select_on_focus=False)
            field.cursor_blink = self.blink
            yield field
            if self.known:
                known = Text("In use: ", style="dim")
                known.append(clean(", ".join(self.known[:30]), single_line=True, limit=300), style="dim")
                yield Static(known, classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Save (enter)"), id="save", variant="primary")
                yield Button(Text("Close (esc)"), id="close")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_save(self) -> None:
        new = split_tags(self.query_one(Input).value)
        old = [clean(t, single_line=True) for t in self.tags]
        add = [t for t in new if t not in old]
        remove = [orig for orig, shown in zip(self.tags, old, strict=True) if shown not in new]
        self.dismiss((add, remove))

    def action_close(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
