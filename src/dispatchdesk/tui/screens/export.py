"""Export… : the orders on screen (the list, the filter or the selection) to CSV, Excel or PDF.

| Key | Action |
| --- | --- |
| up / down (on the formats) | CSV, Excel or PDF |
| tab / shift+tab | Format, path, buttons |
| enter / ctrl+s | Export |
| escape | Close without exporting |

The dialog asks; the writing is the services' (`services.export.choice.export_orders`), run by
the function it is given, in a thread. A progress bar shows how far it is; the dialog closes with
the file's path when it is done, or shows the problem under the path and stays.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ProgressBar, RadioButton, RadioSet, Static

from ...services import ERRORS
from ...services.export.choice import FORMATS, export_target
from ...text import clean
from ..css import stylesheet

#: run(format, path, progress) -> (orders written, the file written); raises a DispatchError
Runner = Callable[[str, str, Callable[[int, int], None]], tuple[int, Path]]


class ChoiceButton(RadioButton):
    """A radio button whose choice reads without colour (NO_COLOR): ● chosen, empty otherwise."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return RadioButton._button.fget(self)  # type: ignore[attr-defined, no-any-return]


class ExportScreen(ModalScreen[tuple[int, Path] | None]):
    """Dismisses with (orders written, file), or None when closed without exporting."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("ctrl+s", "export", "Export"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, what: str, path: Path, run: Runner, *, fmt: str = "csv", blink: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self.what = what
        self.path = path
        self.run = run
        self.fmt = fmt
        self.blink = blink
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="export"):
            title = Text("Export ", style="bold")
            title.append(clean(self.what, single_line=True, limit=120), style="bold")
            yield Static(title, classes="dialog-title")
            with RadioSet(id="export-format"):
                for key, (label, suffix) in FORMATS.items():
                    yield ChoiceButton(f"{label} ({suffix})", value=key == self.fmt, id=f"fmt-{key}")
            yield Static(Text("Write to (edit the path; the folder must exist):"), classes="dialog-hint")
            field = Input(value=str(self.path), id="export-path", select_on_focus=False)
            field.cursor_blink = self.blink
            yield field
            yield Static("", id="export-error", classes="field-error")
            yield ProgressBar(id="export-progress", show_eta=False)
            yield Static("", id="export-note", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Export (enter)"), id="export-go", variant="primary")
                yield Button(Text("Close (esc)"), id="export-close")

    def on_mount(self) -> None:
        self.query_one("#export-progress", ProgressBar).display = False
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        pressed = event.pressed.id or ""
        self.fmt = pressed.removeprefix("fmt-")
        field = self.query_one("#export-path", Input)
        if field.value.strip():
            field.value = str(export_target(self.fmt, field.value))

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export-go":
            self.action_export()
        else:
            self.action_close()

    def action_close(self) -> None:
        if self.busy:
            self.notify("The export is being written; it closes when it is done.", markup=False)
            return
        self.dismiss(None)

    def action_export(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.query_one("#export-error", Static).update("")
        bar = self.query_one("#export-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.query_one("#export-note", Static).update(Text("Exporting…"))
        for button in self.query(Button):
            button.disabled = True
        self._write(self.fmt, self.query_one("#export-path", Input).value)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _write(self, fmt: str, path: str) -> None:
        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)

        try:
            result = self.run(fmt, path, progress)
        except ERRORS as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self.dismiss, result)

    def _progress(self, done: int, total: int) -> None:
        self.query_one("#export-progress", ProgressBar).update(total=max(total, 1), progress=done)
        self.query_one("#export-note", Static).update(Text(f"Exporting… {done:,} of {total:,} orders"))

    def _failed(self, message: str) -> None:
        self.busy = False
        self.query_one("#export-progress", ProgressBar).display = False
        self.query_one("#export-note", Static).update("")
        self.query_one("#export-error", Static).update(Text(clean(message), style="bold"))
        for button in self.query(Button):
            button.disabled = False
        self.query_one("#export-path", Input).focus()
