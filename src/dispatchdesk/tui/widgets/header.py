"""The one-line header: depot, the screen, relay state and notices waiting, the time."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from ...text import clean


class DeskHeader(Horizontal):
    """`dispatchdesk · <depot> · <view>      relay: idle · 3 waiting  09:41`

    It reads the app's `depot_name`, `relay_status()` and `depot.now()` twice a second.
    """

    view: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        yield Static("", classes="header-left", markup=False)
        yield Static("", classes="header-right", markup=False)

    def on_mount(self) -> None:
        self._update()
        self.set_interval(0.5, self._update)

    def watch_view(self) -> None:
        if self.is_mounted:
            self._update()

    def _update(self) -> None:
        app = self.app
        left = Text.assemble(("dispatchdesk", "bold"))
        name = getattr(app, "depot_name", "")
        if name:
            left.append(" · ")
            left.append(clean(name, single_line=True, limit=30))
        if self.view:
            left.append(" · ")
            left.append(self.view, "bold")
        status = getattr(app, "relay_status", None)
        right = Text(clean(status() if callable(status) else "", single_line=True, limit=60))
        depot = getattr(app, "depot", None)
        if depot is not None:
            right.append("  " + depot.now().astimezone().strftime("%H:%M"))
        self.query_one(".header-left", Static).update(left)
        self.query_one(".header-right", Static).update(right)
