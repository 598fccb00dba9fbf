"""What the console exports: the list on screen, its filter or the selected orders, as CSV,
Excel or PDF, to a path the dispatcher may edit (by default in the user's documents folder).

    sel = ExportChoice(numbers=("DD-000001", "DD-000002"))
    export_orders(depot, "xlsx", default_export_path("xlsx", sel, depot.now()), sel, progress=cb)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ...domain import Status
from ..core import Depot, InvalidInput

if TYPE_CHECKING:
    from .common import Progress

#: The console's formats: key -> (label, file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("CSV", ".csv"),
    "xlsx": ("Excel", ".xlsx"),
    "pdf": ("PDF", ".pdf"),
}


@dataclass(frozen=True)
class ExportChoice:
    """Which orders: a selection (``numbers``), else those the filter and lists on screen show."""

    numbers: tuple[str, ...] | None = None
    text: str = ""
    statuses: tuple[Status, ...] | None = None
    archived: bool | None = None

    def describe(self) -> str:
        """In words, for the export dialog."""
        if self.numbers is not None:
            n = len(self.numbers)
            if n == 1:
                return f"order {self.numbers[0]}"
            return f"the {n} selected orders"
        parts = []
        if self.statuses is not None:
            labels = [s.label for s in self.statuses]
            parts.append("in " + (labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]))
        if self.text.strip():
            parts.append(f"matching “{' '.join(self.text.split())}”")
        if self.archived is True:
            parts.append("archived")
        elif self.archived is False:
            parts.append("not archived")
        return "the orders " + ", ".join(parts) if parts else "every order"


def documents_dir() -> Path:
    """The user's documents folder (platformdirs), else the home folder."""
    import platformdirs

    try:
        path = Path(platformdirs.user_documents_dir())
    except Exception:  # noqa: BLE001 - no documents folder known on this system
        return Path.home()
    return path if path.is_dir() else Path.home()


def default_export_path(fmt: str, choice: ExportChoice, now: datetime, folder: Path | None = None) -> Path:
    """orders-<what>-YYYYmmdd-HHMM.<suffix> in the documents folder."""
    what = "selection" if choice.numbers is not None else (
        choice.statuses[0].value if choice.statuses is not None and len(choice.statuses) == 1 else "list")
    if choice.numbers is None and choice.text.strip():
        what = re.sub(r"[^A-Za-z0-9]+", "-", choice.text.strip()).strip("-")[:30] or what
    suffix = FORMATS[fmt][1] if fmt in FORMATS else f".{fmt}"
    return (folder or documents_dir()) / f"orders-{what}-{now.strftime('%Y%m%d-%H%M')}{suffix}"


def export_orders(
    depot: Depot,
    fmt: str,
    dest: str | os.PathLike[str],
    choice: ExportChoice,
    *,
    progress: Progress | None = None,
) -> int:
    """Write the chosen orders to ``dest`` (whole, or nothing); the number of orders written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown export format {fmt!r}; the formats are: {', '.join(FORMATS)}.")
    text = str(dest).strip()
    if not text:
        raise InvalidInput("Say where to write the export: the path is empty.", field="path")
    # the writers are imported here, not with the board that offers them (start-up, issue 13)
    from .common import check_target
    from .csv import export_csv
    from .pdf import export_pdf
    from .xlsx import export_xlsx

    path = check_target(export_target(fmt, text))  # before anything is read or built
    writer = {"csv": export_csv, "xlsx": export_xlsx, "pdf": export_pdf}[fmt]
    return writer(depot, path, archived=choice.archived, numbers=choice.numbers, text=choice.text or None,
                  statuses=choice.statuses, progress=progress)


def exported(n: int, path: Path) -> str:
    """The sentence when an export is written."""
    return f"Exported {n:,} order{'s' if n != 1 else ''} to {path}."


def export_target(fmt: str, dest: str | os.PathLike[str]) -> Path:
    """The file export_orders writes for this path (the format's suffix put right)."""
    path = Path(str(dest).strip()).expanduser()
    suffix = FORMATS[fmt][1]
    if path.suffix.lower() == suffix:
        return path
    if path.suffix.lower() in {s for _, s in FORMATS.values()}:
        return path.with_suffix(suffix)  # the format was changed after the path was filled in
    return path.with_name(path.name + suffix)


__all__: Sequence[str] = ("FORMATS", "ExportChoice", "default_export_path", "documents_dir", "export_orders", "exported",
                          "export_target")
