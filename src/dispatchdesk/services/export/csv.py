"""The CSV export: one row per order, lines summarised, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import IO, Any

from ...domain import Status
from ..core import Depot
from .common import ORDER_COLUMNS, Progress, atomic, clean_fast, export_json, flat, ticker

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """Text from outside, made safe for a spreadsheet: no control sequences, no formulas."""
    if not isinstance(value, str):
        return value
    text = clean_fast(value)
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
    """One row per order (lines summarised). Returns the number of orders written."""
    data = export_json(depot, status=status, partner=partner, archived=archived,
                       numbers=numbers, text=text, statuses=statuses)
    tick = ticker(progress, len(data["orders"]))
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow([label for _, label in ORDER_COLUMNS])
    for o in data["orders"]:
        tick()
        row = flat(o)
        w.writerow([_csv_cell(row[key]) for key, _ in ORDER_COLUMNS])
    if hasattr(dest, "write"):
        dest.write(buf.getvalue())
    else:
        with atomic(dest, binary=False) as f:
            f.write(buf.getvalue())
    return len(data["orders"])

