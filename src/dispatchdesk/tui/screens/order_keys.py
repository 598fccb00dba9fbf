"""The order actions shared by the board and the order detail: each key's action starts the
same flow (tui/flows.py) on whatever order the screen has in hand."""

from __future__ import annotations

from typing import Any


class OrderKeys:
    """Mixed into a Screen that has `flows` and `_flow(name)`."""

    flows: Any
    _flow: Any

    def action_trash(self) -> None:
        self._flow("trash")

    def action_cancel(self) -> None:
        self._flow("cancel")

    def action_archive(self) -> None:
        self._flow("archive")

    def action_tags(self) -> None:
        self._flow("tags")

    def action_duplicate(self) -> None:
        self._flow("duplicate")

    def action_edit(self) -> None:
        self._flow("edit")

    def action_register_return(self) -> None:
        self._flow("register_return")

    def action_reject(self) -> None:
        self._flow("reject")

    def action_refuse(self) -> None:
        self._flow("refuse_request")

    def action_menu(self) -> None:
        self._flow("menu")

    def action_undo(self) -> None:
        self.flows.start(self.flows.undo(), name="undo")
