"""``dispatchdesk import``, ``export`` and ``report``."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from .root import (
    CONTEXT,
    EXIT_OK,
    EXPORT_FORMATS,
    STATUS,
    Command,
    _col,
    _open,
    complete_partner,
    db_option,
    out,
)


@click.command("import", cls=Command, context_settings=CONTEXT, short_help="import orders from a JSON file (all or nothing)")
@db_option
@click.argument("file", metavar="FILE.json", type=click.Path())
def import_(file: str) -> int:
    """Import the export's JSON shape. Every record is checked first; if any is wrong, each
    problem is named and nothing is written. On a terminal a bar shows how far the file is
    read; either way one line at the end says what was imported."""
    from ..services.importer import import_json
    from .progress import Job

    depot = _open()
    try:
        with Job("Importing", unit="bytes") as job:
            result = import_json(depot, file, progress=job.progress)
    finally:
        depot.close()
    job.done(result.summary().removesuffix("."))
    return EXIT_OK


@click.command(cls=Command, context_settings=CONTEXT, short_help="export orders as JSON, CSV, Excel or PDF")
@db_option
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="json", show_default=True)
@click.option("--status", type=STATUS, help="only orders in this status")
@click.option("--partner", metavar="NAME", shell_complete=complete_partner,
              help="only orders from or with this partner")
@click.option("--archived/--no-archived", default=None,
              help="--archived: only archived orders; --no-archived: leave them out (default: all)")
@click.option("-o", "--output", metavar="FILE", type=click.Path(), help="write to FILE (written whole, or not at all)")
def export(format_: str, status: Any, partner: str | None, archived: bool | None, output: str | None) -> int:
    """Export orders, Rejected and Cancelled included. JSON and CSV go to standard output
    without -o; Excel and PDF go to a file. On a terminal a bar shows how far it is (on
    standard error); either way one line at the end says how many orders went where."""
    from ..services import export as io
    from .progress import Job

    filters = {"status": status, "partner": partner, "archived": archived}
    if format_ in ("xlsx", "pdf") and not output:
        output = f"orders-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{format_}"
    to_stdout = not output
    depot = _open()
    try:
        # no bar when the data itself is going to the terminal
        with Job("Exporting", unit="orders", quiet=to_stdout and sys.stdout.isatty()) as job:
            if format_ == "json":
                n = io.export_json_file(depot, output or sys.stdout, **filters, progress=job.progress)
            elif format_ == "csv":
                n = io.export_csv(depot, output or sys.stdout, **filters, progress=job.progress)
            else:
                fn = io.export_xlsx if format_ == "xlsx" else io.export_pdf
                n = fn(depot, output or "", **filters, progress=job.progress)
    finally:
        depot.close()
    where = output or "standard output"
    job.done(f"Exported {n:,} order{'s' if n != 1 else ''} to {where}", to=sys.stderr if to_stdout else None)
    return EXIT_OK


@click.command(cls=Command, context_settings=CONTEXT, short_help="work done; rejections and cancellations per partner")
@db_option
@click.option("--from", "first", metavar="DAY", default="", help="first day counted (YYYY-MM-DD, UTC)")
@click.option("--to", "last", metavar="DAY", default="", help="last day counted (YYYY-MM-DD, UTC; included)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def report(first: str, last: str, as_json: bool) -> int:
    """Counts of work done leave Rejected and Cancelled out; the rejections and cancellations
    are counted apart, per partner and reason (SPEC 8). With --from/--to: the orders taken in
    in those days, and those rejected or cancelled in them."""
    from ..services import queries
    from ..services.report import parse_period, report_sections

    period = parse_period(first, last)
    depot = _open()
    try:
        rep = queries.report(depot, period.since, period.until)
        extra = [s for s in report_sections(depot, period)
                 if s.key not in ("work", "rejections_and_cancellations")]
    finally:
        depot.close()
    if as_json:
        import json

        rep["period"] = {"first": period.first.isoformat() if period.first else None,
                         "last": period.last.isoformat() if period.last else None}
        for s in extra:
            rep[s.key] = [dict(zip([c.lower() for c in s.columns], row, strict=False)) for row in s.rows]
        json.dump(rep, sys.stdout, ensure_ascii=True, indent=1, default=str)
        sys.stdout.write("\n")
        return EXIT_OK
    from ..domain import WORKING

    if period.first or period.last:
        out(f"Period: {period.describe()} (UTC).")
    work: dict[str, int] = rep["work"]  # type: ignore[assignment]
    out("Work (Rejected and Cancelled left out):")
    for st in WORKING:
        out(f"  {st.label:<11} {work.get(st.label, 0):>7}")
    out(f"  {'Total':<11} {sum(work.values()):>7}")
    out("")
    rows: list[dict[str, Any]] = rep["rejections_and_cancellations"]  # type: ignore[assignment]
    out("Rejections and cancellations per partner and reason:")
    if not rows:
        out("  none")
    for r in sorted(rows, key=lambda r: (r["status"], r["partner"], r["reason"])):
        out(f"  {r['status']:<10} {_col(r['partner'], 32)} {_col(r['reason'], 17)} {r['orders']:>6}")
    for s in extra:
        out("")
        out(f"{s.title}:")
        if not s.rows:
            out(f"  {s.empty}")
        for row in s.rows:
            out("  " + "  ".join(_col(str(v), 24) if isinstance(v, str) else f"{v:>6}" for v in row))
    return EXIT_OK
