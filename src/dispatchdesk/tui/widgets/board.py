"""The board: status lists side by side, each titled with its name and count."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalScroll
from textual.widget import Widget

from .status_list import StatusList


class Board(HorizontalScroll):
    """One tab's lists, left to right."""

    can_focus = False

    def __init__(self, keys: tuple[str, ...], *, board_id: str, min_width: int = 14) -> None:
        super().__init__(id=f"board-{board_id}", classes="board")
        self.keys = keys
        self.board_id = board_id
        self.min_width = min_width

    def on_resize(self) -> None:
        """Share the width out; below min_width a list keeps that width and the board scrolls."""
        lists = self.lists()
        if not lists:
            return
        width = self.size.width
        each = max(self.min_width, width // len(lists))
        extra = width - each * len(lists) if each * len(lists) < width else 0
        for i, lst in enumerate(lists):
            lst.styles.width = each + (1 if i < extra else 0)

    def on_mount(self) -> None:
        self.call_after_refresh(self.on_resize)

    def compose(self) -> ComposeResult:
        for key in self.keys:
            yield StatusList(key, id=f"list-{self.board_id}-{key}")

    def lists(self) -> list[StatusList]:
        return list(self.query_children(StatusList))

    def list_for(self, key: str) -> StatusList | None:
        for lst in self.lists():
            if lst.key == key:
                return lst
        return None


def list_of(widget: Widget | None) -> StatusList | None:
    """The status list a widget (under the pointer) belongs to."""
    node = widget
    while node is not None:
        if isinstance(node, StatusList):
            return node
        node = node.parent  # type: ignore[assignment]
    return None
