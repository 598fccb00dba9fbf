"""The CSV export: one row per order, lines summarised, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from typing import IO, Any

from ...domain import Status
from ...text import clean, is_clean
from ..core import Depot
from .common import ORDER_COLUMNS, Counting, Export, Progress, atomic, reading

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a cell (or a line within one: then the cell is looked at on its own) that starts like a formula
_FORMULA_AT_START = re.compile("(?:^|\n)[=+\\-@\t\r]")


def _csv_cell(value: Any) -> Any:
    """Text from outside, made safe for a spreadsheet: no control sequences, no formulas."""
    if value.__class__ is not str or (is_clean(value) and not value.startswith(_FORMULA_START)):
        return value  # the common case, in two C calls
    text = clean(value)
    if text.startswith(_FORMULA_START):
        return "'" + text  # OWASP: a leading quote keeps a spreadsheet from running it
    return text


def export_csv(
    depot: Depot,
    dest: str | os.PathLike[str] | IO[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
    numbers: Sequence[str] | None = None,
    text: str | None = None,
    statuses: Sequence[Status] | None = None,
    progress: Progress | None = None,
) -> int:
    """One row per order (lines summarised), read and written a page at a time. Returns the
    number of orders written."""
    with reading(depot, status=status, partner=partner, archived=archived,
                 numbers=numbers, text=text, statuses=statuses) as ex:
        if hasattr(dest, "write"):
            return _write(ex, dest, progress)  # type: ignore[arg-type]
        with atomic(dest, binary=False) as f:
            return _write(ex, f, progress)


def _write(ex: Export, out: IO[str], progress: Progress | None) -> int:
    count = Counting(progress, ex.count() if progress is not None else 0)
    w = csv.writer(out)
    w.writerow([label for _, label in ORDER_COLUMNS])
    rows = []
    for page in ex.flat_pages():
        for row, _ in page:
            # one scan of the whole row in C; a row that needs it goes cell by cell
            text = "\n".join([v for v in row if v.__class__ is str])
            if not is_clean(text) or _FORMULA_AT_START.search(text):
                row = [_csv_cell(v) for v in row]
            rows.append(row)
        w.writerows(rows)
        rows.clear()
        count.add(len(page))
    return count.done
