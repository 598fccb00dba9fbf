"""`dispatchdesk order unarchive N` and the archive_after_days setting (issue 13 item 2)."""

from __future__ import annotations

import pytest

from dispatchdesk.cli import main
from dispatchdesk.services import run_auto_archive, trash


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)


@pytest.fixture
def cli(capsys, db_path):
    def run(*args: str):
        rc = main([*args, "--db", str(db_path)])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


def test_unarchive_brings_back_an_order_the_depot_archived(cli, depot, partners, new_order, rows, clock):
    n = new_order(source="Plain Client")
    trash(depot, n)
    clock.advance(31 * 24 * 3600)
    assert run_auto_archive(depot) == 1
    before = len(rows(depot, n).audit)

    rc, out, err = cli("order", "unarchive", n, "--yes")
    assert rc == 0, err
    assert f"Order {n} taken out of the archive; it stays Rejected." in out
    x = rows(depot, n)
    assert x.order.archived is False and len(x.audit) == before + 1
    assert x.last.action == "unarchive"

    # again: refused in one sentence, nothing written
    rc, _, err = cli("order", "unarchive", n, "--yes")
    assert rc == 1 and f"Order {n} is not archived." in err and "Traceback" not in err
    assert len(rows(depot, n).audit) == before + 1


def test_unarchive_without_yes_and_no_terminal_changes_nothing(cli, depot, partners, new_order, rows,
                                                             monkeypatch):
    from dispatchdesk.services import archive

    n = new_order(source="Plain Client")
    archive(depot, n)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - no terminal to ask on
    rc, out, _ = cli("order", "unarchive", n)
    assert "It comes back to the working lists." in out
    assert rc != 0 and rows(depot, n).order.archived is True


def test_the_archive_setting_is_listed_with_its_default_and_checked(cli, depot):
    rc, out, _ = cli("settings")
    assert rc == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("archive_after_days"))
    assert "30 (default)" in line and "0: never" in line
    rc, out, _ = cli("settings", "archive_after_days", "0")
    assert rc == 0 and depot.setting("archive_after_days") == "0"
    rc, _, err = cli("settings", "archive_after_days", "40000")
    assert rc == 1 and "out of range" in err
    assert depot.setting("archive_after_days") == "0"
