"""The one-line tab bar of the dispatch screen: Dispatch | All information (key i, or a click)."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

TABS = (("work", "Dispatch"), ("all", "All information"))


class TabBar(Widget):
    active: reactive[str] = reactive("work")

    class Chosen(Message):
        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def render(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        self._spans: list[tuple[int, int, str]] = []
        for key, label in TABS:
            start = len(line)
            if key == self.active:
                line.append(f" {label} ", style="bold reverse")
            else:
                line.append(f" {label} ")
            self._spans.append((start, len(line), key))
            line.append(" ")
        line.append(" i switches", style="dim")
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in getattr(self, "_spans", []):
            if start <= event.x < end:
                event.stop()
                self.post_message(self.Chosen(key))
