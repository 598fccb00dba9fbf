"""The key line at the bottom: the keys the screen offers now, and only those.

Textual's Footer rebuilds a widget per key whenever the offered keys change, which happens on
every move of the cursor here; this draws one line of text instead. A click on a key runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget


@dataclass(frozen=True)
class _Key:
    start: int
    end: int
    action: str
    namespace: DOMNode


class KeyBar(Widget):
    """`⏎ Open  s Status  t Trash …                     ^p palette`"""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._keys: list[_Key] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        app = self.app
        line = Text(no_wrap=True, overflow="ellipsis")
        keys: list[_Key] = []
        seen: set[str] = set()
        palette = None
        for namespace, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "command_palette" and app.ENABLE_COMMAND_PALETTE:
                palette = (namespace, binding)
                continue
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            if len(line):
                line.append("  ")
            start = len(line)
            line.append(app.get_key_display(binding), style="bold reverse")
            line.append(" " + (binding.description or binding.action))
            keys.append(_Key(start, len(line), binding.action, namespace))
        if palette is not None:
            namespace, binding = palette
            tail = Text.assemble((app.get_key_display(binding), "bold reverse"), " palette")
            gap = self.size.width - line.cell_len - tail.cell_len - 1
            if gap >= 2:
                line.append(" " * gap)
                start = len(line)
                line.append_text(tail)
                keys.append(_Key(start, len(line), binding.action, namespace))
        self._keys = keys
        return line

    async def on_click(self, event: events.Click) -> None:
        for key in self._keys:
            if key.start <= event.x < key.end:
                event.stop()
                await self.app.run_action(key.action, key.namespace)
                return
