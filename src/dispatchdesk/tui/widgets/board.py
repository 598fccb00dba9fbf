"""The board: status lists side by side, each under a title with its count."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import HorizontalScroll, Vertical
from textual.widget import Widget
from textual.widgets import Static

from ..symbols import list_title
from .status_list import StatusList


class ListColumn(Vertical):
    """A title line and the list under it. Class `-drop-target` while a card hovers over it."""

    def __init__(self, key: str, *, board_id: str) -> None:
        super().__init__(id=f"col-{board_id}-{key}", classes="list-column")
        self.key = key
        self.board_id = board_id
        self.count = 0
        self.shown_count: int | None = None  # with a filter: the cards that match
        self.drop_note = ""

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="list-title", markup=False)
        yield StatusList(self.key, id=f"list-{self.board_id}-{self.key}")

    @property
    def status_list(self) -> StatusList:
        return self.query_one(StatusList)

    def _title(self) -> Text:
        title = Text(list_title(self.key), style="bold")
        if self.shown_count is None:
            title.append(f" {self.count:,}")
        else:
            title.append(f" {self.shown_count:,}/{self.count:,}")
        if self.drop_note:
            title = Text.assemble(("▼ ", "bold"), (self.drop_note, "bold"))
        return title

    def set_counts(self, count: int, shown: int | None) -> None:
        self.count = count
        self.shown_count = shown
        self._update_title()

    def set_drop(self, note: str | None) -> None:
        """Show (or stop showing) that a card would land here."""
        self.drop_note = note or ""
        self.set_class(bool(note), "-drop-target")
        self._update_title()

    def _update_title(self) -> None:
        if self.is_mounted:
            self.query_one(".list-title", Static).update(self._title())


class Board(HorizontalScroll):
    """One tab's lists, left to right."""

    can_focus = False

    def __init__(self, keys: tuple[str, ...], *, board_id: str) -> None:
        super().__init__(id=f"board-{board_id}", classes="board")
        self.keys = keys
        self.board_id = board_id

    def compose(self) -> ComposeResult:
        for key in self.keys:
            yield ListColumn(key, board_id=self.board_id)

    def columns(self) -> Iterator[ListColumn]:
        yield from self.query(ListColumn)

    def lists(self) -> list[StatusList]:
        return [c.status_list for c in self.columns()]

    def list_for(self, key: str) -> StatusList | None:
        for c in self.columns():
            if c.key == key:
                return c.status_list
        return None

    def column_for(self, key: str) -> ListColumn | None:
        for c in self.columns():
            if c.key == key:
                return c
        return None


def column_of(widget: Widget | None) -> ListColumn | None:
    """The list column a widget (under the pointer) belongs to."""
    node = widget
    while node is not None:
        if isinstance(node, ListColumn):
            return node
        node = node.parent  # type: ignore[assignment]
    return None
