"""The Excel export: sheet Orders (one row per order) and sheet Lines (one row per line)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from ...domain import Status
from ..core import Depot
from .common import ORDER_COLUMNS, Counting, Progress, atomic, clean_fast, reading


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

    with reading(depot, status=status, partner=partner, archived=archived,
                 numbers=numbers, text=text, statuses=statuses) as ex:
        count = Counting(progress, ex.count() if progress is not None else 0)
        # write-only: rows go to the sheets' temporary files as they come, never held whole
        wb = Workbook(write_only=True)
        orders_ws = wb.create_sheet("Orders")
        lines_ws = wb.create_sheet("Lines")
        bold = Font(bold=True)

        def head(ws: Any, value: str) -> Any:
            c = WriteOnlyCell(ws, value=value)
            c.font = bold
            return c

        def safe(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            value = _xlsx_text(value)
            if value.startswith("="):  # openpyxl would store it as a formula: text, never a formula
                c = WriteOnlyCell(orders_ws, value=value)
                c.data_type = "s"
                return c
            return value

        orders_ws.append([head(orders_ws, label) for _, label in ORDER_COLUMNS])
        lines_ws.append([head(lines_ws, h) for h in
                         ("Order", "Status", "Article", "Description", "Quantity", "Cancelled", "Open")])
        for page in ex.flat_pages():
            for row, lines in page:
                orders_ws.append([safe(v) for v in row])
                number, label = safe(row[0]), row[1]
                for article, description, quantity, cancelled in lines:
                    lines_ws.append([number, label, safe(article), safe(description),
                                     quantity, cancelled, quantity - cancelled])
            count.add(len(page))
        with atomic(dest, binary=True) as f:
            wb.save(f)
        return count.done


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_text(value: str) -> str:
    # clean() already drops control characters; the second pass is openpyxl's own rule
    return _XLSX_ILLEGAL.sub("", clean_fast(value))

