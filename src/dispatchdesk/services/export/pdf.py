"""The PDF export: a landscape A4 table of the orders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...domain import DocumentKind, Status
from ...text import clean
from ..core import Depot
from .common import Counting, Progress, atomic, line_summary, parse_status, reading

# --------------------------------------------------------------------------- PDF

#: Where a Unicode TrueType font may be: the system's DejaVu, or one shipped in a package.
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
    "C:/Windows/Fonts/DejaVuSans.ttf",
)


def _unicode_font() -> tuple[Path, Path | None] | None:
    """A DejaVu Sans (regular, bold) if one is on the system or in an installed package."""
    candidates = [Path(p) for p in _FONT_CANDIDATES]
    try:  # matplotlib ships DejaVu Sans
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")
        if spec is not None and spec.submodule_search_locations:
            base = Path(next(iter(spec.submodule_search_locations)))
            candidates.append(base / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    except (ImportError, ValueError):
        pass
    for regular in candidates:
        if regular.is_file():
            bold = regular.with_name("DejaVuSans-Bold.ttf")
            return regular, bold if bold.is_file() else None
    return None


def _latin1(text: str) -> str:
    """For the core fonts: every character Latin-1 cannot hold becomes '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


PDF_COLUMNS = (
    # (key, header, width in mm)
    ("number", "Number", 26),
    ("status", "Status", 20),
    ("direction", "Dir.", 15),
    ("partner", "Partner", 40),
    ("route", "Pickup → delivery", 62),
    ("parcels", "Parc.", 10),
    ("weight_kg", "kg", 13),
    ("marks", "Marks", 30),
    ("lines", "Lines", 61),
)


def export_pdf(
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
    title: str | None = None,
) -> int:
    """A landscape A4 table of the orders, Rejected and Cancelled included."""

    with reading(depot, status=status, partner=partner, archived=archived,
                 numbers=numbers, text=text, statuses=statuses) as ex:
        total = ex.count()
        count = Counting(progress, total)
        pdf = _document(depot, total, status, partner, archived, title)
        # the table is drawn a page of orders at a time (fpdf draws a table when it is
        # closed), so the progress moves while the document is built
        for page in ex.pages():
            for i in range(0, len(page), PDF_ROWS):
                pdf.rows([_pdf_row(o) for o in page[i : i + PDF_ROWS]])
                count.add(len(page[i : i + PDF_ROWS]))
        if total == 0:
            pdf.rows([])
        data = bytes(pdf.output())
    with atomic(dest, binary=True) as f:
        f.write(data)
    return count.done


#: orders drawn as one fpdf table (a few pages' worth)
PDF_ROWS = 200


def _document(depot: Depot, total: int, status: Status | str | None, partner: str | None,
              archived: bool | None, title: str | None) -> Any:
    """The document with its title drawn; ``rows(values)`` draws more of the table (the
    heading row comes again at the top of every page, as the page's header)."""
    from fpdf import FPDF

    font = _unicode_font()
    depot_name = depot.setting("depot_name") or "dispatchdesk"
    stamp = depot.now().strftime("%Y-%m-%d %H:%M UTC")
    filters = []
    if status is not None:
        filters.append(f"status {parse_status(status).label}")  # type: ignore[union-attr]
    if partner:
        filters.append(f"partner {partner}")
    if archived is not None:
        filters.append("archived only" if archived else "archived left out")
    heading = clean(title or f"Orders of {depot_name}", single_line=True)
    sub = f"{total} orders" + (f" ({', '.join(filters)})" if filters else "") + f", exported {stamp}"
    widths = tuple(w for _, _, w in PDF_COLUMNS)

    class _PDF(FPDF):
        table_started = False

        def header(self) -> None:
            if self.table_started:
                self.head_row()

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(family, size=7)
            self.cell(0, 5, fix(f"{heading} · page {self.page_no()}/{{nb}}"), align="C")

        def head_row(self) -> None:
            self.set_font(family, "B", 7)
            self.set_fill_color(225, 225, 225)
            for (_, label, _), w in zip(PDF_COLUMNS, widths, strict=True):
                self.cell(w, 5.2, fix(label), border=1, fill=True)
            self.ln(5.2)
            self.set_font(family, "", 7)

        def rows(self, values: list[list[str]]) -> None:
            if not self.table_started:
                self.head_row()
                self.table_started = True
            if not values:
                return
            with self.table(col_widths=widths, width=sum(widths), align="LEFT", line_height=3.6,
                            text_align="LEFT", first_row_as_headings=False, padding=0.8) as table:
                for row_values in values:
                    row = table.row()
                    for value in row_values:
                        row.cell(fix(value))

    pdf = _PDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(7, 8, 7)
    if font is not None:
        family = "DejaVu"
        pdf.add_font(family, "", str(font[0]))
        pdf.add_font(family, "B", str(font[1] or font[0]))

        def fix(text: str) -> str:
            return text
    else:
        family = "Helvetica"
        fix = _latin1
    pdf.set_title(fix(heading))
    pdf.set_creator("dispatchdesk")
    pdf.add_page()
    pdf.set_font(family, "B", 13)
    pdf.cell(0, 7, fix(heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 8)
    pdf.cell(0, 5, fix(clean(sub, single_line=True)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 7)
    return pdf


def _pdf_row(o: dict[str, Any]) -> list[str]:
    flags = o["flags"]
    marks = []
    if flags["cancellation_requested"]:
        marks.append("cancellation requested")
    if flags["partner_not_informed"]:
        marks.append("partner not informed")
    if flags["archived"]:
        marks.append("archived")
    if o["documents"]:
        marks.append(", ".join(DocumentKind(d["kind"]).label if d["kind"] in DocumentKind._value2member_map_
                               else d["kind"] for d in o["documents"]))
    if o["backorders"]:
        marks.append("back-ordered")
    partner = o["partner"] or ""
    if o["assignee"]:
        partner = f"{partner} → {o['assignee']}" if partner else f"→ {o['assignee']}"
    route = f"{o['pickup_address']} → {o['delivery_address']}"
    values = [
        o["number"],
        Status(o["status"]).label,
        o["direction"],
        partner or "(own)",
        route,
        str(o["parcels"]),
        f"{o['weight_kg']:g}",
        "; ".join(marks),
        line_summary(o),
    ]
    return [clean(v, single_line=True, limit=400) for v in values]

