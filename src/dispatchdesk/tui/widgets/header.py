"""The one-line header: depot, the screen, how many dispatchers are here, relay state and
notices waiting, the time."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...text import clean
from .status_list import fit


class DeskHeader(Widget):
    """`dispatchdesk · <depot> · <view>      3 here · relay: idle · 3 waiting  09:41`

    It reads the app's `depot_name`, `presence_status()`, `relay_status()` and `depot.now()`
    twice a second (and at once when the app has read who is here: `update_now`).
    """

    view: reactive[str] = reactive("")
    right: reactive[str] = reactive("")

    def on_mount(self) -> None:
        self._update()
        self.set_interval(0.5, self._update)

    def update_now(self) -> None:
        self._update()

    def _update(self) -> None:
        app = self.app
        status = getattr(app, "relay_status", None)
        right = status() if callable(status) else ""
        who = getattr(app, "presence_status", None)
        here = who() if callable(who) else ""
        if here:
            right = f"{here} · {right}" if right else here
        depot = getattr(app, "depot", None)
        if depot is not None:
            right += "  " + depot.now().astimezone().strftime("%H:%M")
        self.right = right

    def on_resize(self) -> None:
        self.refresh()

    def render(self) -> Text:
        """The screen's name always reads whole: where the line is short, the depot's name is cut
        first, then the word dispatchdesk goes, then the depot's name, then the right side is cut."""
        width = self.size.width
        name = clean(getattr(self.app, "depot_name", "") or "", single_line=True, limit=30)
        right = Text(clean(self.right, single_line=True, limit=60))
        view = Text(self.view, "bold") if self.view else Text("")

        def left(brand: bool, depot: str) -> Text:
            parts = ([Text("dispatchdesk", "bold")] if brand else []) + ([Text(depot)] if depot else [])
            if self.view:
                parts.append(view)
            return Text(" · ").join(parts)

        room = width - 2 - right.cell_len - 2  # a space each end, two between
        out = left(True, name)
        if out.cell_len > room:
            out = left(False, name)
        if out.cell_len > room and name:
            keep = room - left(False, "").cell_len - 3  # " · "
            out = left(False, fit(name, keep).rstrip()) if keep >= 6 else left(False, "")
        if out.cell_len > room:  # the view alone does not fit beside the right side
            right.truncate(max(0, width - 2 - out.cell_len - 2), overflow="ellipsis")
            if out.cell_len > width - 2:
                out.truncate(max(1, width - 2), overflow="ellipsis")
        gap = max(2 if right.cell_len else 0, width - 2 - out.cell_len - right.cell_len)
        return Text.assemble(" ", out, " " * gap, right, " ", no_wrap=True, overflow="crop")
