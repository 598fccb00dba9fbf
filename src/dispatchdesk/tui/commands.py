"""The command palette (ctrl+p): every action of the screen under it, and the screens.

The palette parses plain strings as markup, so every name goes in as a rich Text (shown
literally), and the help line carries only our own words, never text from outside.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

#: Characters safe in a string the palette parses as markup.
_SAFE_HELP = re.compile(r"[^A-Za-z0-9 .,:;/()+…'-]")


def safe_help(text: str) -> str:
    """Our own help words, with anything markup could read as a tag taken out."""
    return _SAFE_HELP.sub("", text)


class DeskCommands(Provider):
    """Asks the screen under the palette (`palette_commands()`) and the app for their actions."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        out: list[tuple[str, Any, str]] = []
        screen = self.screen
        if hasattr(screen, "palette_commands"):
            out.extend(screen.palette_commands())
        app = self.app
        if hasattr(app, "palette_commands"):
            out.extend(app.palette_commands())
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(Text(name), partial(self._run, callback), text=name, help=safe_help(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                display = Text(name)
                _, offsets = matcher.fuzzy_search.match(query, name)
                for offset in offsets:
                    display.stylize("bold underline", offset, offset + 1)
                yield Hit(score, display, partial(self._run, callback), text=name, help=safe_help(help_text))

    @staticmethod
    def _run(callback: Any) -> None:
        callback()
