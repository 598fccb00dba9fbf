"""Where each screen's stylesheet is. The board's loads with the app; the dialogs' and the
detail's load when the first of them opens, so that start-up parses only what it draws."""

from __future__ import annotations

from pathlib import Path

from ..resources import styles_dir


def stylesheet(name: str) -> list[str | Path]:
    return [styles_dir() / name]
