"""The one-line header: depot, the screen, relay state and notices waiting, the time."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...text import clean


class DeskHeader(Widget):
    """`dispatchdesk · <depot> · <view>      relay: idle · 3 waiting  09:41`

    It reads the app's `depot_name`, `relay_status()` and `depot.now()` twice a second.
    """

    view: reactive[str] = reactive("")
    right: reactive[str] = reactive("")

    def on_mount(self) -> None:
        self._update()
        self.set_interval(0.5, self._update)

    def _update(self) -> None:
        app = self.app
        status = getattr(app, "relay_status", None)
        right = status() if callable(status) else ""
        depot = getattr(app, "depot", None)
        if depot is not None:
            right += "  " + depot.now().astimezone().strftime("%H:%M")
        self.right = right

    def on_resize(self) -> None:
        self.refresh()

    def render(self) -> Text:
        left = Text.assemble(("dispatchdesk", "bold"))
        name = getattr(self.app, "depot_name", "")
        if name:
            left.append(" · ")
            left.append(clean(name, single_line=True, limit=30))
        if self.view:
            left.append(" · ")
            left.append(self.view, "bold")
        right = Text(clean(self.right, single_line=True, limit=60))
        width = self.size.width
        room = width - 2 - right.cell_len - 2
        if left.cell_len > room:
            left.truncate(max(1, room), overflow="ellipsis")
        gap = max(2, width - 2 - left.cell_len - right.cell_len)
        out = Text.assemble(" ", left, " " * gap, right, " ", no_wrap=True, overflow="crop")
        return out
