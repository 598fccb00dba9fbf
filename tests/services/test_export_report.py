"""Issue 8 item 7 and 8, the services' side: the console's export of a list, filter or selection
(with progress), the report as sections for a period, and saved views in the settings table."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from dispatchdesk.domain import Status
from dispatchdesk.services import Depot, InvalidInput, NotFound, trash
from dispatchdesk.services.export.choice import (
    ExportChoice,
    default_export_path,
    export_orders,
    export_target,
)
from dispatchdesk.services.report import Period, parse_period, report_sections
from dispatchdesk.services.views import DeleteView, RenameView, SaveView, ViewFilter, saved_views


def _numbers(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row["Number"] for row in csv.DictReader(f)]


def test_export_of_a_selection_writes_only_those_orders(depot: Depot, tmp_path: Path, new_order) -> None:
    a, b, c = new_order(), new_order(), new_order()
    n = export_orders(depot, "csv", tmp_path / "sel.csv", ExportChoice(numbers=(a, c)))
    assert n == 2
    assert _numbers(tmp_path / "sel.csv") == [a, c]
    assert b not in _numbers(tmp_path / "sel.csv")


def test_export_of_a_filter_matches_number_partner_reference_and_address(
    depot: Depot, tmp_path: Path, partners, new_order
) -> None:
    mine = new_order(source="Corner Bakery")
    other = new_order()
    got = tmp_path / "f.csv"
    assert export_orders(depot, "csv", got, ExportChoice(text="bakery")) == 1
    assert _numbers(got) == [mine]
    # statuses: only the lists on screen; Rejected is exported like any other
    trash(depot, mine)
    assert export_orders(depot, "csv", got, ExportChoice(statuses=(Status.REJECTED,))) == 1
    assert _numbers(got) == [mine]
    assert export_orders(depot, "csv", got, ExportChoice(statuses=(Status.CREATED,))) == 1
    assert _numbers(got) == [other]
    # LIKE's own characters are taken literally
    assert export_orders(depot, "csv", got, ExportChoice(text="%")) == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_export_tells_its_progress_and_writes_the_format(depot: Depot, tmp_path: Path, new_order, fmt) -> None:
    for _ in range(5):
        new_order()
    seen: list[tuple[int, int]] = []
    dest = tmp_path / "out"  # the format's suffix is added
    n = export_orders(depot, fmt, dest, ExportChoice(), progress=lambda d, t: seen.append((d, t)))
    assert n == 5
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)
    written = export_target(fmt, dest)
    assert written.name == f"out.{fmt}" and written.stat().st_size > 0


def test_export_to_a_missing_folder_is_one_sentence_and_writes_nothing(depot: Depot, tmp_path: Path,
                                                                      new_order) -> None:
    new_order()
    with pytest.raises(InvalidInput, match="does not exist"):
        export_orders(depot, "csv", tmp_path / "nope" / "x.csv", ExportChoice())
    with pytest.raises(InvalidInput, match="path is empty"):
        export_orders(depot, "csv", "  ", ExportChoice())
    assert not (tmp_path / "nope").exists()


def test_default_path_is_in_the_documents_folder(tmp_path: Path, clock) -> None:
    p = default_export_path("xlsx", ExportChoice(numbers=("A",)), clock(), folder=tmp_path)
    assert p.parent == tmp_path and p.name.startswith("orders-selection-") and p.suffix == ".xlsx"
    p = default_export_path("pdf", ExportChoice(text="High St/York"), clock(), folder=tmp_path)
    assert p.name.startswith("orders-High-St-York-")
    assert export_target("csv", p).suffix == ".csv"  # the format changed after: the suffix follows


def test_report_sections_for_a_period(depot: Depot, clock, new_order, partners) -> None:
    first = new_order(source="Corner Bakery")
    trash(depot, first)
    clock.advance(3 * 86400)
    new_order()
    new_order()
    day0, day3 = clock().date().fromordinal(clock().date().toordinal() - 3), clock().date()
    everything = {s.key: s for s in report_sections(depot)}
    assert [s.key for s in report_sections(depot)] == ["work", "rejections_and_cancellations", "returns"]
    assert everything["work"].rows[-1] == ("Total", 2)  # the rejected order is left out
    assert everything["rejections_and_cancellations"].rows == (("Rejected", "Corner Bakery", "-", 1),)
    later = {s.key: s for s in report_sections(depot, Period(day3, day3))}
    assert later["work"].rows[-1] == ("Total", 2)
    assert later["rejections_and_cancellations"].rows == ()
    earlier = {s.key: s for s in report_sections(depot, Period(day0, day0))}
    assert earlier["work"].rows[-1] == ("Total", 0)
    assert earlier["rejections_and_cancellations"].rows[0][-1] == 1
    assert "on " + day0.isoformat() in earlier["work"].note


def test_period_is_checked() -> None:
    assert parse_period("", "") == Period()
    assert parse_period("2026-11-01", "2026-11-30") == Period(date(2026, 11, 1), date(2026, 11, 30))
    with pytest.raises(InvalidInput, match="not a date") as e:
        parse_period("yesterday", "")
    assert e.value.field == "first"
    with pytest.raises(InvalidInput, match="before the first"):
        parse_period("2026-11-30", "2026-11-01")


def test_saved_views_are_saved_renamed_and_deleted(depot: Depot) -> None:
    assert saved_views(depot) == []
    pv = SaveView("Leeds", ViewFilter("leeds")).preview(depot)
    assert pv.allowed and "leeds" in " ".join(pv.lines)
    assert "Saved the view" in SaveView("Leeds", ViewFilter("leeds")).execute(depot)
    SaveView("  Archive  York ", ViewFilter("york", tab="all")).execute(depot)
    assert [(v.name, v.filter) for v in saved_views(depot)] == [
        ("Archive York", ViewFilter("york", "all")), ("Leeds", ViewFilter("leeds"))]
    # the same name twice (any case) is refused, in words, and nothing changes
    assert SaveView("leeds", ViewFilter("x")).preview(depot).refusals
    with pytest.raises(InvalidInput, match="already a view"):
        SaveView("LEEDS", ViewFilter("x")).execute(depot)
    assert RenameView("Leeds", "Archive york").preview(depot).refusals
    RenameView("leeds", "Leeds depot").execute(depot)
    assert [v.name for v in saved_views(depot)] == ["Archive York", "Leeds depot"]
    assert DeleteView("Leeds depot").preview(depot).allowed
    DeleteView("Leeds depot").execute(depot)
    assert [v.name for v in saved_views(depot)] == ["Archive York"]
    with pytest.raises(NotFound):
        DeleteView("Leeds depot").execute(depot)
    with pytest.raises(InvalidInput, match="needs a name"):
        SaveView("  ", ViewFilter()).preview(depot)
    # kept in the settings table, as JSON
    assert '"Archive York"' in (depot.setting("saved_views") or "")


def test_cli_report_for_a_period(capsys, db_path, depot: Depot, clock, new_order) -> None:
    from dispatchdesk.cli import main

    new_order()
    day = clock().date().isoformat()
    depot.close()
    rc = main(["report", "--from", day, "--to", day, "--db", str(db_path)])
    out = capsys.readouterr().out
    assert rc == 0 and f"Period: on {day}" in out and "Total" in out
    rc = main(["report", "--from", "2000-01-01", "--to", "2000-01-02", "--json", "--db", str(db_path)])
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["work"] == {} and data["period"] == {"first": "2000-01-01", "last": "2000-01-02"}
    rc = main(["report", "--from", "soon", "--db", str(db_path)])
    err = capsys.readouterr().err
    assert rc != 0 and "not a date like" in err and "Traceback" not in err
