"""A pop-up menu: the card's context menu, the Set status submenu, the partner to send to.

Items the services refuse are shown disabled, with the sentence that says why.

| Key | Action |
| --- | --- |
| up / down | Move |
| enter | Choose |
| right | Open a submenu (items ending in ▸) |
| escape / left | Close |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Offset
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...text import clean
from ..css import stylesheet


@dataclass(frozen=True)
class MenuItem:
    id: str
    label: str
    key: str = ""  # the key that does the same on the board, shown as a hint
    refused: str | None = None  # why it is not allowed (shown, item disabled)
    submenu: bool = False
    outside: str = ""  # text from outside (an order number, a partner), appended literally


def _prompt(item: MenuItem, width: int) -> Text:
    label = Text(item.label)
    if item.outside:
        label.append(clean(item.outside, single_line=True, limit=60))
    if item.submenu:
        label.append(" ▸")
    if item.key:
        label.pad_right(max(0, width - label.cell_len))
        label.append(f"  {item.key}", style="dim")
    if item.refused:
        label.append("\n  ")
        label.append(clean(item.refused), style="italic")
    return label


class MenuScreen(ModalScreen[str | None]):
    """Dismisses with the chosen item's id, or None."""

    CSS_PATH = stylesheet("dialogs.tcss")

    BINDINGS = [
        Binding("escape,left", "close", "Close"),
        Binding("right", "open_submenu", "Open", show=False),
    ]

    def __init__(self, title: str, items: Sequence[MenuItem], *, at: Offset | None = None,
                 menu_id: str = "menu") -> None:
        super().__init__(classes="menu-screen" + (" -at-pointer" if at is not None else ""))
        self.title_text = title
        self.items = list(items)
        self.at = at
        self.menu_id = menu_id

    def compose(self) -> ComposeResult:
        menu = Vertical(classes="menu", id=self.menu_id)
        if self.at is not None:
            # At the pointer from the first frame: the offset is there before the first layout,
            # and the stylesheet's `constrain: inside` keeps the menu on the screen whatever its
            # size (nothing needs measuring after a frame, so it never jumps).
            menu.styles.offset = (self.at.x, self.at.y)
        with menu:
            yield Static(Text(clean(self.title_text, single_line=True), style="bold"), classes="menu-title")
            width = max((len(i.label) + (2 if i.submenu else 0) for i in self.items if not i.outside), default=0)
            yield OptionList(
                *[Option(_prompt(i, width), id=i.id, disabled=i.refused is not None) for i in self.items],
                classes="menu-options",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        first = next((n for n, i in enumerate(self.items) if i.refused is None), None)
        options.highlighted = first

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_open_submenu(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        item = self.items[options.highlighted]
        if item.submenu and item.refused is None:
            self.dismiss(item.id)

    def action_close(self) -> None:
        self.dismiss(None)
