"""The Excel export: sheet Orders (one row per order) and sheet Lines (one row per line)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from ...domain import Status
from ..core import Depot
from .common import ORDER_COLUMNS, Progress, atomic, clean_fast, export_json, flat, ticker


def export_xlsx(
    depot: Depot,
    dest: str | os.PathLike[str],
    *,
    status: Status | str | None = None,
    partner: str | None = None,
    archived: bool | None = None,
    numbers: Sequence[str] | None = None,
    text: str | None = None,
    statuses: Sequence[Status] | None = None,
    progress: Progress | None = None,
) -> int:
    """An Excel workbook: sheet Orders (one row per order), sheet Lines (one row per line)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    data = export_json(depot, status=status, partner=partner, archived=archived,
                       numbers=numbers, text=text, statuses=statuses)
    tick = ticker(progress, len(data["orders"]))
    wb = Workbook(write_only=True)
    orders_ws = wb.create_sheet("Orders")
    lines_ws = wb.create_sheet("Lines")
    bold = Font(bold=True)

    def cell(ws: Any, value: Any, *, header: bool = False) -> Any:
        if isinstance(value, str):
            value = _xlsx_text(value)
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # never a formula, whatever the text starts with
        if header:
            c.font = bold
        return c

    orders_ws.append([cell(orders_ws, label, header=True) for _, label in ORDER_COLUMNS])
    lines_ws.append([cell(lines_ws, h, header=True) for h in
                     ("Order", "Status", "Article", "Description", "Quantity", "Cancelled", "Open")])
    for o in data["orders"]:
        tick()
        row = flat(o)
        orders_ws.append([cell(orders_ws, row[key]) for key, _ in ORDER_COLUMNS])
        label = Status(o["status"]).label
        for ln in o["lines"]:
            lines_ws.append([
                cell(lines_ws, o["number"]), cell(lines_ws, label), cell(lines_ws, ln["article"]),
                cell(lines_ws, ln["description"]), ln["quantity"], ln["cancelled"],
                ln["quantity"] - ln["cancelled"],
            ])
    with atomic(dest, binary=True) as f:
        wb.save(f)
    return len(data["orders"])


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_text(value: str) -> str:
    # clean() already drops control characters; the second pass is openpyxl's own rule
    return _XLSX_ILLEGAL.sub("", clean_fast(value))

