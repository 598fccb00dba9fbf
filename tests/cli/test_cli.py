"""The command line: every command run in-process through main() (and a few in a subprocess),
with what it did read back from the DATABASE afterwards, not only from what it printed."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dispatchdesk import __version__
from dispatchdesk.cli import database_location, default_database, main
from dispatchdesk.services import dispatch, set_status, trash
from dispatchdesk.store import db as store_db

pytestmark = pytest.mark.usefixtures("partners")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the real user data directory; no DISPATCHDESK_DB from the environment."""
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)


@pytest.fixture
def cli(capsys, db_path):
    """cli(*args) -> (exit code, stdout, stderr), on the test's database unless --db is given."""

    def run(*args: str, db: bool = True):
        argv = list(args)
        if db and "--db" not in argv:
            argv += ["--db", str(db_path)]
        rc = main(argv)
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


@pytest.fixture
def inbound(new_order) -> str:
    return new_order(source="Plain Client")


@pytest.fixture
def own(new_order) -> str:
    return new_order()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# --------------------------------------------------------------------------- version, locations


def test_version(cli):
    rc, out, _ = cli("--version", db=False)
    assert rc == 0
    assert out.strip() == f"dispatchdesk {__version__}"


def test_usage_error_exits_2(cli):
    rc, _, err = cli("order", "frobnicate", "X")
    assert rc == 2
    assert "No such command 'frobnicate'" in err  # click's words (argparse said "invalid choice")


def test_default_database_is_created_in_the_data_home(tmp_path, cli):
    home = tmp_path / "home"
    assert not home.exists()
    assert default_database() == home / "depot.db"
    rc, out, _ = cli("init", db=False)
    assert rc == 0
    assert (home / "depot.db").is_file()
    assert str(home / "depot.db") in out


def test_default_database_follows_platformdirs(monkeypatch):
    import platformdirs

    monkeypatch.delenv("DISPATCHDESK_HOME")
    assert default_database() == platformdirs.user_data_path("dispatchdesk") / "depot.db"


def test_env_db_and_db_flag_before_or_after_the_command(tmp_path, monkeypatch, cli, inbound, db_path):
    other = tmp_path / "other.db"
    assert cli("init", "--db", str(other), db=False)[0] == 0  # only init makes a depot
    monkeypatch.setenv("DISPATCHDESK_DB", str(db_path))
    assert database_location(None) == str(db_path)
    rc, out, _ = cli("order", "list", db=False)
    assert rc == 0 and inbound in out
    rc, out, _ = cli("--db", str(other), "order", "list", db=False)
    assert rc == 0 and "No orders match." in out
    rc, out, _ = cli("order", "list", "--db", str(other), db=False)
    assert rc == 0 and "No orders match." in out
    rc, out, _ = cli("order", "--db", str(other), "list", db=False)
    assert rc == 0 and "No orders match." in out
    assert other.exists()


def test_db_flag_outranks_the_environment_wherever_it_is_given(tmp_path, monkeypatch, cli, inbound, db_path):
    other = tmp_path / "other.db"
    cli("init", "--db", str(other), db=False)
    monkeypatch.setenv("DISPATCHDESK_DB", str(other))
    for argv in (["--db", str(db_path), "order", "list"], ["order", "--db", str(db_path), "list"],
                 ["order", "list", "--db", str(db_path)],
                 # the innermost --db wins, as with the old parser
                 ["--db", str(other), "order", "--db", str(other), "list", "--db", str(db_path)]):
        rc, out, err = cli(*argv, db=False)
        assert rc == 0, err
        assert inbound in out, argv


def test_long_options_can_be_shortened_as_before(cli, depot, rows, inbound, own):
    """argparse took an unambiguous prefix for a long option (--lim for --limit); so does the port."""
    rc, out, err = cli("order", "list", "--lim", "1", "--sea=Plain")
    assert rc == 0, err
    assert inbound in out and out.strip().endswith("1 order.")
    rc, out, err = cli("order", "tag", inbound, "--ad", "x", "--y")
    assert rc == 0, err
    assert [t.name for t in rows(depot, inbound).order.tags] == ["x"]
    rc, _, err = cli("partner", "set", "Plain Client", "--auto-t", "--rejection=created")
    assert rc == 0, err
    rc, _, err = cli("partner", "set", "Plain Client", "--no-auto")
    assert rc == 0, err
    # a value that looks like an option is a value, not shortened
    rc, _, err = cli("order", "cancel", own, "--reason", "OTHER", "--comment", "--y", "--yes")
    assert rc == 0, err
    assert rows(depot, own).cancellations[0].comment == "--y"
    # ambiguous: refused, naming the choices
    rc, _, err = cli("partner", "set", "Plain Client", "--re", "x")
    assert rc == 2 and "--re" in err and "--rename" in err and "--reason-required" in err


@pytest.mark.parametrize(("argv", "words"), [
    (["order"], "Missing command"),  # a group without its action
    (["partner"], "Missing command"),
    (["init", "--demo", "--demo-partners"], "--demo-partners is not allowed with --demo"),
    (["order", "list", "--limit", "many"], "'many' is not a valid integer"),
    (["order", "show"], "Missing argument 'NUMBER'"),
    (["export", "--format", "docx"], "'docx' is not one of"),
])
def test_usage_errors_name_the_problem_and_exit_2(cli, counts, depot, argv, words):
    before = counts(depot)
    rc, out, err = cli(*argv)
    assert rc == 2
    assert words in err
    assert counts(depot) == before


def test_help_of_every_command(cli):
    rc, out, _ = cli("--help", db=False)
    assert rc == 0
    for name in ("init", "relay", "partner", "settings", "import", "export", "report", "order"):
        assert f"  {name} " in out
    assert "_DISPATCHDESK_COMPLETE=bash_source dispatchdesk" in out
    rc, out, _ = cli("order", "-h", db=False)
    assert rc == 0
    assert out.index("  list ") < out.index("  show ") < out.index("  send ") < out.index("  refuse-request ")
    rc, out, _ = cli("partner", "set", "--help", db=False)
    assert rc == 0 and "--auto-trash / --no-auto-trash" in out


def test_interrupted_exits_130(cli, monkeypatch, inbound):
    monkeypatch.setattr(sys, "stdin", _Tty(""))

    def interrupted(_prompt=""):
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    rc, _, err = cli("order", "trash", inbound)
    assert rc == 130 and "Interrupted." in err


def _complete(monkeypatch, capsys, words: str) -> list[str]:
    """What click's bash completion offers for the last of ``words``."""
    monkeypatch.setenv("_DISPATCHDESK_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 0
    return [line.split(",", 1)[1] for line in capsys.readouterr().out.splitlines() if line]


def test_shell_completion_of_commands_order_numbers_and_partner_names(monkeypatch, capsys, depot, db_path,
                                                                     new_order):
    from dispatchdesk.services import PartnerInput, add_partner

    add_partner(depot, PartnerInput("Evil\x1b[31m Co", "client"))
    first, second = new_order(source="Plain Client"), new_order()
    assert _complete(monkeypatch, capsys, "dispatchdesk order s") == ["show", "send", "status"]
    numbers = _complete(monkeypatch, capsys, f"dispatchdesk --db {db_path} order show {first[:-1]}")
    assert first in numbers and (second in numbers) == second.startswith(first[:-1])
    from dispatchdesk.services import archive

    trash(depot, second)
    archive(depot, second, True)
    assert _complete(monkeypatch, capsys, f"dispatchdesk --db {db_path} order archive {second}") == [second]
    names = _complete(monkeypatch, capsys, f"dispatchdesk order send {first} --db {db_path} --partner ")
    assert "Swift Haulage" in names and "Plain Client" in names
    assert not [n for n in names if "\x1b" in n]  # never offered raw to the shell
    assert _complete(monkeypatch, capsys, "dispatchdesk order status X pick") == ["picked_up"]
    # no database there: nothing offered, and none created
    monkeypatch.setenv("DISPATCHDESK_DB", str(db_path.with_name("missing.db")))
    assert _complete(monkeypatch, capsys, "dispatchdesk order show DD") == []
    assert not db_path.with_name("missing.db").exists()


# --------------------------------------------------------------------------- no textual, no aiohttp


SCRIPTED = [
    ["--version"],
    ["partner", "list"],
    ["order", "list"],
    ["order", "show", "{order}"],
    ["export", "--format", "json", "-o", "{tmp}/x.json"],
    ["export", "--format", "csv", "-o", "{tmp}/x.csv"],
    ["export", "--format", "xlsx", "-o", "{tmp}/x.xlsx"],
    ["export", "--format", "pdf", "-o", "{tmp}/x.pdf"],
    ["import", "{tmp}/empty.json"],
    ["report"],
]

_PROBE = """
import json, sys
from dispatchdesk.cli import main
rc = main(json.loads(sys.argv[1]))
heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("textual", "aiohttp")})
print("PROBE" + json.dumps({"rc": rc, "heavy": heavy}))
"""


def test_version_and_help_import_click_only():
    probe = ("import json, sys\nfrom dispatchdesk.cli import main\n"
             "rcs = [main(['--version']), main(['--help']), main(['order', '--help']), main(['order', 'cancel', '-h'])]\n"
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'textual', 'aiohttp', "
             "'alembic', 'platformdirs'})\n"
             "print('PROBE' + json.dumps([rcs, heavy]))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("PROBE"))
    assert json.loads(line[5:]) == [[0, 0, 0, 0], []], r.stderr


def test_python_m_dispatchdesk_cli():
    r = subprocess.run([sys.executable, "-m", "dispatchdesk.cli", "--version"], capture_output=True, text=True,
                       timeout=60, check=False)
    assert (r.returncode, r.stdout.strip()) == (0, f"dispatchdesk {__version__}")


def test_scripted_commands_never_import_textual_or_aiohttp(tmp_path, db_path, inbound, depot):
    depot.close()
    (tmp_path / "empty.json").write_text('{"orders": []}')
    env = {**os.environ, "DISPATCHDESK_DB": str(db_path), "NO_COLOR": "1"}
    for argv in SCRIPTED:
        args = [a.format(order=inbound, tmp=tmp_path) for a in argv]
        r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True,
                           text=True, env=env, timeout=120, check=False)
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith("PROBE"))
        report = json.loads(line[5:])
        assert report["rc"] == 0, (args, r.stderr)
        assert report["heavy"] == [], f"dispatchdesk {' '.join(args)} imported {report['heavy']}"


def test_the_installed_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("dispatchdesk")
    if not exe.exists():
        pytest.skip("the dispatchdesk script is not installed next to this Python")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0
    assert r.stdout.strip() == f"dispatchdesk {__version__}"
    r = subprocess.run([str(exe), "--db", str(tmp_path / "nope" / "x.db"), "order", "list"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1
    assert "does not exist" in r.stderr


# --------------------------------------------------------------------------- init and the demo


def test_init_demo_then_order_list(tmp_path, cli):
    target = tmp_path / "fresh.db"
    rc, out, _ = cli("init", "--demo", "--db", str(target), db=False)
    assert rc == 0
    assert "9 partners" in out
    rc, out, _ = cli("order", "list", "--db", str(target), db=False)
    assert rc == 0
    n = int(out.strip().splitlines()[-1].split()[0])
    rc, arch, _ = cli("order", "list", "--archived", "--db", str(target), db=False)
    n += int(arch.strip().splitlines()[-1].split()[0])
    assert n >= 250
    for label in ("Created", "Dispatched", "Accepted", "Picked up", "Delivered", "Rejected", "Cancelled"):
        assert label in out
    # a second --demo into the same database is refused: it has orders
    rc, _, err = cli("init", "--demo", "--db", str(target), db=False)
    assert rc == 1
    assert "already has" in err


def test_init_demo_partners_only(tmp_path, cli):
    target = tmp_path / "p.db"
    rc, out, _ = cli("init", "--demo-partners", "--db", str(target), db=False)
    assert rc == 0 and "9 partners, 0 orders" in out


# --------------------------------------------------------------------------- partners


def test_partner_add_and_list_never_show_the_secret(cli, depot, rows):
    secret = "a-very-secret-value-123"
    rc, out, err = cli("partner", "add", "Hill Couriers", "--role", "subcontractor",
                       "--url", "http://127.0.0.1:9/hill", "--secret", secret, "--cancel-method",
                       "api-window", "--window", "600", "--follow-up", "--reason-required")
    assert rc == 0, err
    from dispatchdesk.services import partner_input

    p = partner_input(depot, "Hill Couriers")
    assert (p.role, p.cancel_method, p.window_seconds, p.follow_up_after_send, p.reason_required) == (
        "subcontractor", "api-window", 600, True, True)
    assert p.secret == secret
    rc, out, _ = cli("partner", "list")
    assert rc == 0
    assert "Hill Couriers" in out and "api-window 600 s" in out
    assert secret not in out
    assert secret[-2:] in out  # the hint: the last two characters only


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--role", "subcontractor", "--url", "http://127.0.0.1:9/x", "--secret", "short"], 1,
         "at least 16 characters"),
        (["--role", "driver"], 2, "Invalid value for '--role': 'driver' is not one of"),
        (["--role", "channel", "--cancel-method", "api-window"], 1, "api-window needs the window"),
        (["--role", "client", "--url", "http://127.0.0.1:9/x"], 1, "needs the shared secret"),
        (["--role", "warehouse", "--cancel-method", "email"], 1, "needs the partner's e-mail"),
        (["--role", "client", "--email", "not-an-address"], 1, "is not an e-mail address"),
        (["--role", "client", "--window", "soon"], 2, "--window takes whole seconds"),
        ([], 2, "--role"),
    ],
)
def test_partner_add_with_bad_flags_names_the_problem(cli, depot, counts, args, code, words):
    before = counts(depot)
    rc, out, err = cli("partner", "add", "Bad Partner", *args)
    assert rc == code
    assert words in err
    assert counts(depot) == before
    rc, out, _ = cli("partner", "list")
    assert "Bad Partner" not in out


def test_partner_add_twice_is_refused(cli):
    assert cli("partner", "add", "Once", "--role", "client")[0] == 0
    rc, _, err = cli("partner", "add", "Once", "--role", "client")
    assert rc == 1 and "already a partner named 'Once'" in err


def test_partner_set_changes_only_what_is_given(cli, depot):
    from dispatchdesk.services import partner_input

    before = partner_input(depot, "Plain Client")
    rc, out, err = cli("partner", "set", "Plain Client", "--auto-trash", "--rejection-maps-to", "created")
    assert rc == 0, err
    after = partner_input(depot, "Plain Client")
    assert after.auto_trash is True and after.rejection_maps_to == "created"
    assert (after.url, after.secret, after.role) == (before.url, before.secret, before.role)
    rc, _, err = cli("partner", "set", "Plain Client", "--no-auto-trash", "--rename", "Plainer Client")
    assert rc == 0, err
    assert partner_input(depot, "Plainer Client").auto_trash is False
    rc, _, err = cli("partner", "set", "Nobody", "--auto-trash")
    assert rc == 1 and "no partner named 'Nobody'" in err


# --------------------------------------------------------------------------- settings


def test_settings_list_set_and_refuse(cli, depot):
    rc, out, _ = cli("settings")
    assert rc == 0 and "undo_seconds" in out and "10 (default)" in out
    rc, out, _ = cli("settings", "undo_seconds", "30")
    assert rc == 0
    assert depot.setting("undo_seconds") == "30"
    rc, _, err = cli("settings", "undo_seconds", "soon")
    assert rc == 1 and "whole number" in err
    assert depot.setting("undo_seconds") == "30"
    rc, _, err = cli("settings", "colour", "red")
    assert rc == 1 and "Unknown setting 'colour'" in err


# --------------------------------------------------------------------------- order flows


def test_send_then_take_back(cli, depot, rows, own):
    rc, out, err = cli("order", "send", own, "--partner", "Swift Haulage", "--yes")
    assert rc == 0, err
    assert "Created → Dispatched" in out
    r = rows(depot, own)
    assert r.order.status == "dispatched" and r.order.assignee.name == "Swift Haulage"
    assert [n.kind for n in r.notices] == ["order.new"]
    rc, out, err = cli("order", "status", own, "created", "--yes")
    assert rc == 0, err
    r = rows(depot, own)
    assert r.order.status == "created" and r.order.assignee is None
    assert [n.kind for n in r.notices] == ["order.new", "order.revoked"]
    assert r.last.action == "revoke"


def test_status_moves_and_silent_rejection(cli, depot, rows, inbound):
    rc, _, err = cli("order", "status", inbound, "accepted", "--yes")
    assert rc == 0, err
    assert rows(depot, inbound).order.status == "accepted"
    rc, out, err = cli("order", "status", inbound, "Rejected", "--yes")
    assert rc == 0, err
    assert "Plain Client will NOT be told; use Trash to tell them." in out
    r = rows(depot, inbound)
    assert r.order.status == "rejected" and r.order.partner_not_informed is True
    assert not [n for n in r.notices if n.kind == "order.rejected"]


def test_status_dispatched_needs_a_partner(cli, depot, rows, own):
    rc, _, err = cli("order", "status", own, "dispatched", "--yes")
    assert rc == 1
    assert "order send" in err
    assert rows(depot, own).order.status == "created"
    rc, _, err = cli("order", "status", own, "dispatched", "--partner", "Van Man", "--yes")
    assert rc == 0, err
    assert rows(depot, own).order.assignee.name == "Van Man"


def test_trash_tells_the_client_and_undo_puts_it_back(cli, depot, rows, inbound):
    rc, out, err = cli("order", "trash", inbound, "--yes")
    assert rc == 0, err
    assert "Plain Client will be told over the link after the undo window (rejection)." in out
    assert "order undo" in out
    r = rows(depot, inbound)
    assert r.order.status == "rejected"
    assert [(n.kind, n.state) for n in r.notices] == [("order.rejected", "held")]
    rc, out, err = cli("order", "undo", inbound, "--yes")
    assert rc == 0, err
    r = rows(depot, inbound)
    assert r.order.status == "created"
    assert [n.state for n in r.notices] == ["withdrawn"]
    assert [a.action for a in r.audit][-2:] == ["trash", "undo"]
    # nothing left to undo
    rc, _, err = cli("order", "undo", inbound, "--yes")
    assert rc == 1 and "nothing to undo" in err


def test_cancel_partial_with_lines(cli, depot, rows, new_order):
    n = new_order(source="Shopfront", lines={"BOX-S": 3, "PALLET": 1})
    rc, out, err = cli("order", "cancel", n, "--reason", "not_in_stock", "--comment", "Sorry",
                       "--note", "internal only", "--number", "CN-CLI-1", "--line", "BOX-S=2", "--yes")
    assert rc == 0, err
    assert "partial cancellation" in out
    r = rows(depot, n)
    assert r.order.status == "created"
    assert {ln.article: ln.cancelled for ln in r.order.lines} == {"BOX-S": 2, "PALLET": 0}
    (c,) = r.cancellations
    assert (c.number, c.reason, c.comment, c.internal_note, c.lines, c.partial) == (
        "CN-CLI-1", "NOT_IN_STOCK", "Sorry", "internal only", {"BOX-S": 2}, True)
    # the same cancellation number again is refused, naming it
    rc, _, err = cli("order", "cancel", n, "--reason", "DAMAGED", "--number", "CN-CLI-1", "--yes")
    assert rc == 1 and "'CN-CLI-1' is already used" in err


def test_cancel_reason_rules(cli, depot, rows, new_order):
    n = new_order(source="Shopfront")
    rc, _, err = cli("order", "cancel", n, "--yes")
    assert rc == 1 and "Shopfront requires a reason code" in err
    rc, _, err = cli("order", "cancel", n, "--reason", "OTHER", "--yes")
    assert rc == 1 and "OTHER needs a comment" in err
    rc, _, err = cli("order", "cancel", n, "--reason", "BORED", "--yes")
    assert rc == 2 and "unknown reason code 'BORED'" in err
    rc, _, err = cli("order", "cancel", n, "--reason", "DAMAGED", "--line", "BOX-S", "--yes")
    assert rc == 2 and "ARTICLE=QUANTITY" in err
    assert rows(depot, n).order.status == "created"
    assert rows(depot, n).cancellations == []


def test_reject_with_and_without_telling_the_buyer(cli, depot, rows, new_order):
    quiet = new_order(source="Plain Client")
    told = new_order(source="Plain Client")
    rc, out, err = cli("order", "reject", quiet, "--yes")
    assert rc == 0, err
    assert "Plain Client will NOT be told (notify the buyer is off)." in out
    r = rows(depot, quiet)
    assert r.order.status == "rejected" and r.order.partner_not_informed and r.notices == []
    rc, out, err = cli("order", "reject", told, "--notify-buyer", "--message", "No driver that day", "--yes")
    assert rc == 0, err
    r = rows(depot, told)
    assert r.order.status == "rejected" and not r.order.partner_not_informed
    assert r.notices[0].payload["message"] == "No driver that day"
    rc, _, err = cli("order", "reject", quiet, "--message", "x", "--yes")
    assert rc == 2 and "--notify-buyer" in err


def test_duplicate_archive_and_tags(cli, depot, rows, inbound):
    trash(depot, inbound)
    rc, out, err = cli("order", "duplicate", inbound, "--yes")
    assert rc == 0, err
    new_number = out.strip().split()[-2]
    from dispatchdesk.services import queries

    copy = queries.order_detail(depot, new_number)
    assert copy.status.value == "created" and copy.replaces == inbound
    rc, _, err = cli("order", "archive", inbound, "--yes")
    assert rc == 0, err
    assert rows(depot, inbound).order.archived is True
    rc, _, err = cli("order", "archive", inbound, "--yes")
    assert rc == 1 and "already archived" in err
    rc, _, err = cli("order", "tag", inbound, "--add", "checked", "--add", "fragile", "--yes")
    assert rc == 0, err
    rc, out, err = cli("order", "tag", inbound, "--remove", "fragile", "--yes")
    assert rc == 0, err
    assert [t.name for t in rows(depot, inbound).order.tags] == ["checked"]
    rc, _, err = cli("order", "archive", inbound, "--restore", "--yes")
    assert rc == 0, err
    assert rows(depot, inbound).order.archived is False


def test_refused_action_exits_1_with_the_sentence_and_changes_nothing(cli, depot, counts, rows, new_order):
    n = new_order(source="Plain Client", documents=[("invoice", "INV-1")], backorders=[("BOX-S", 1)])
    before = counts(depot)
    rc, out, err = cli("order", "trash", n, "--yes")
    assert rc == 1
    assert f"Order {n} is referenced by an invoice." in err
    assert f"Order {n} has 1 back-ordered line." in err
    assert counts(depot) == before
    assert rows(depot, n).order.status == "created"
    rc, _, err = cli("order", "show", "NO-SUCH")
    assert rc == 1 and "There is no order numbered 'NO-SUCH'." in err


def test_stale_version_changes_nothing(cli, depot, rows, monkeypatch, inbound, counts):
    """Someone else acts between the question and the answer: a conflict, nothing overwritten."""
    import dispatchdesk.cli as cli_module

    real_confirm = cli_module._confirm

    def meanwhile(args, lines):
        real_confirm(args, lines)
        dispatch(depot, inbound, "Swift Haulage")  # the other dispatcher was quicker

    monkeypatch.setattr(cli_module, "_confirm", meanwhile)
    rc, out, err = cli("order", "trash", inbound, "--yes")
    assert rc == 1
    assert f"Order {inbound} was changed by tester while you were looking at it" in err
    r = rows(depot, inbound)
    assert r.order.status == "dispatched"
    assert [a.action for a in r.audit] == ["created", "dispatch"]


def test_no_terminal_and_no_yes_refuses(cli, depot, rows, inbound, counts):
    before = counts(depot)
    rc, out, err = cli("order", "trash", inbound)
    assert rc == 2
    assert "pass --yes" in err
    assert "Created → Rejected" in out  # the question's sentences were shown
    assert counts(depot) == before


@pytest.mark.parametrize(("answer", "code", "status"), [("y\n", 0, "rejected"), ("n\n", 1, "created"),
                                                          ("\n", 1, "created")])
def test_the_question_on_a_terminal(cli, depot, rows, inbound, monkeypatch, answer, code, status):
    monkeypatch.setattr(sys, "stdin", _Tty(answer))
    rc, out, _ = cli("order", "trash", inbound)
    assert rc == code
    assert "Go ahead? [y/N]" in out
    assert rows(depot, inbound).order.status == status


def test_order_list_filters_and_show(cli, depot, inbound, own, new_order):
    trash(depot, own)
    rc, out, _ = cli("order", "list", "--status", "rejected")
    assert rc == 0 and own in out and inbound not in out
    rc, out, _ = cli("order", "list", "--search", "Plain")
    assert inbound in out and own not in out
    rc, out, _ = cli("order", "show", inbound)
    assert rc == 0
    assert "From:        Plain Client" in out and "BOX-S" in out and "History:" in out


def test_hostile_text_is_printed_literally(cli, depot, add_partners):
    from dispatchdesk.services import LineInput, OrderInput, PartnerInput, add_partner, create_order

    evil = "Evil\x1b[31m Co\x1b]0;pwned\x07 [@click=app.quit]\u202eX\u009b2J"
    add_partner(depot, PartnerInput(evil, "client"))
    n = create_order(depot, OrderInput("\x1b[2J1 Road, Leeds", "[b]2 Street[/b], York",
                                       [LineInput("A\x1b[5m", 1, "desc \u0085 \u202e")], source=evil))
    for args in (("order", "show", n), ("order", "list"), ("partner", "list")):
        rc, out, err = cli(*args)
        assert rc == 0, err
        for bad in ("\x1b", "\u202e", "\u009b", "\x07", "\u0085"):
            assert bad not in out, (args, bad)
        assert "Evil Co" in out
        if args[1] != "list" or args[0] == "partner":
            assert "[@click=app.quit]" in out  # shown, as plain characters


def test_report_leaves_rejected_and_cancelled_out_of_the_work(cli, depot, inbound, own, new_order):
    trash(depot, inbound)
    set_status(depot, own, "accepted")
    rc, out, _ = cli("report")
    assert rc == 0
    work = out.split("Rejections")[0].split("left out):")[1]
    assert "Rejected" not in work and "Cancelled" not in work
    assert "Accepted" in work
    assert "Plain Client" in out.split("Rejections")[1]
    rc, out, _ = cli("report", "--json")
    data = json.loads(out)
    assert data["work"] == {"Accepted": 1}
    assert data["rejections_and_cancellations"][0]["partner"] == "Plain Client"


# --------------------------------------------------------------------------- import and export


def test_import_export_round_trip_through_the_cli(cli, tmp_path, depot, inbound, own, add_partners):
    trash(depot, inbound)
    out_file = tmp_path / "out.json"
    rc, out, err = cli("export", "--format", "json", "-o", str(out_file))
    assert rc == 0, err
    fresh = tmp_path / "fresh.db"
    from dispatchdesk.services import Depot

    d2 = Depot.open(fresh)
    add_partners(d2)
    d2.close()
    rc, out, err = cli("import", str(out_file), "--db", str(fresh), db=False)
    assert rc == 0, err
    assert "Imported 2 orders" in out
    rc, again, _ = cli("export", "--db", str(fresh), db=False)
    rc, first, _ = cli("export")
    a, b = json.loads(first), json.loads(again)
    assert a["orders"] == b["orders"]
    assert a["notices"] == b["notices"]


def test_export_json_to_stdout_is_ascii(cli, depot, new_order):
    new_order(source="Plain Client", lines={"CAFÉ\u202e": 1})
    rc, out, _ = cli("export")
    assert rc == 0
    assert out.isascii()
    assert json.loads(out)["orders"][0]["lines"][0]["article"] == "CAFÉ\u202e"  # nothing lost


def test_bad_import_names_the_record_and_changes_nothing(cli, tmp_path, depot, counts, inbound):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"orders": [
        {"number": "OK-1", "pickup_address": "a", "delivery_address": "b"},
        {"number": inbound, "pickup_address": "a", "delivery_address": "b"},
        {"number": "X-2", "status": "lost", "pickup_address": "a", "delivery_address": "b", "partner": "Nobody"},
    ]}))
    before = counts(depot)
    rc, out, err = cli("import", str(bad))
    assert rc == 1
    assert "3 problems; nothing was imported." in err
    assert f"orders[1] (number '{inbound}'): order number '{inbound}' is already used" in err
    assert "orders[2] (number 'X-2'): unknown status 'lost'" in err
    assert "orders[2] (number 'X-2'): unknown partner 'Nobody'" in err
    assert counts(depot) == before
    bad.write_text('{"orders": [\n  {"number": "A",}\n]}')
    rc, _, err = cli("import", str(bad))
    assert rc == 1 and "line 2, column 18" in err and str(bad) in err
    rc, _, err = cli("import", str(tmp_path / "missing.json"))
    assert rc == 1 and "no such file" in err
    assert counts(depot) == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_export_files(cli, tmp_path, depot, inbound, own, fmt):
    trash(depot, inbound)
    target = tmp_path / f"orders.{fmt}"
    rc, out, err = cli("export", "--format", fmt, "-o", str(target))
    assert rc == 0, err
    assert f"Wrote 2 orders to {target}." in out
    data = target.read_bytes()
    if fmt == "pdf":
        assert data.startswith(b"%PDF")
    elif fmt == "xlsx":
        assert data.startswith(b"PK")
    else:
        assert inbound.encode() in data and b"Rejected" in data
    rc, out, err = cli("export", "--format", fmt, "--status", "rejected", "-o", str(target))
    assert "Wrote 1 order to" in out


def test_export_without_output_file_names_one(cli, tmp_path, monkeypatch, inbound):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = cli("export", "--format", "pdf")
    assert rc == 0
    written = list(tmp_path.glob("orders-*.pdf"))
    assert len(written) == 1 and written[0].name in out


def test_export_into_a_missing_directory_writes_nothing(cli, tmp_path, inbound):
    target = tmp_path / "nowhere" / "x.csv"
    rc, _, err = cli("export", "--format", "csv", "-o", str(target))
    assert rc == 1
    assert "the directory" in err and "does not exist" in err
    assert not target.parent.exists()


def test_export_filters_unknown_partner(cli, inbound):
    rc, _, err = cli("export", "--partner", "Nobody")
    assert rc == 1 and "no partner named 'Nobody'" in err


# --------------------------------------------------------------------------- databases that refuse


def test_locked_database(cli, depot, db_path, inbound, rows, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        rc, _, err = cli("order", "trash", inbound, "--yes")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rc == 1
    assert "is locked by another program; nothing was changed" in err
    assert rows(depot, inbound).order.status == "created"


def test_read_only_database(cli, depot, db_path, inbound, rows):
    depot.close()
    ro = f"sqlite:///file:{db_path}?mode=ro&uri=true"
    rc, out, _ = cli("order", "list", "--db", ro, db=False)
    assert rc == 0 and inbound in out  # reading works
    rc, _, err = cli("order", "trash", inbound, "--yes", "--db", ro, db=False)
    assert rc == 1
    assert "is read-only; nothing was changed" in err
    rc, _, err = cli("partner", "add", "New", "--role", "client", "--db", ro, db=False)
    assert rc == 1 and "read-only" in err


def test_missing_directory_and_not_a_database(cli, tmp_path):
    rc, _, err = cli("order", "list", "--db", str(tmp_path / "no" / "such" / "depot.db"), db=False)
    assert rc == 1
    assert f"the directory {tmp_path / 'no' / 'such'} does not exist" in err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all, just some text" * 50)
    rc, _, err = cli("order", "list", "--db", str(junk), db=False)
    assert rc == 1
    assert "not a dispatchdesk database" in err or "not a database" in err


# --------------------------------------------------------------------------- console and relay


def _fake_module(monkeypatch, name: str, **attrs):
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


def test_plain_dispatchdesk_opens_the_console(cli, monkeypatch, db_path, inbound):
    calls = []

    def run(depot, *, demo=False, listen=None, relay=True):
        from dispatchdesk.services import queries

        calls.append((depot.db.where, demo, listen, relay, len(queries.board(depot))))

    _fake_module(monkeypatch, "dispatchdesk.tui.app", run=run)
    rc, _, err = cli("--listen", "127.0.0.1:8740")
    assert rc == 0, err
    assert calls == [(str(db_path), False, "127.0.0.1:8740", True, 1)]
    rc, _, err = cli("--no-relay")
    assert calls[-1][3] is False


def test_demo_console_uses_a_fresh_temporary_copy(cli, monkeypatch):
    seen = []

    def run(depot, *, demo=False, listen=None, relay=True):
        from dispatchdesk.services import queries

        seen.append((Path(depot.db.where), demo, len(queries.board(depot))))

    _fake_module(monkeypatch, "dispatchdesk.tui.app", run=run)
    rc, _, err = cli("--demo", db=False)
    assert rc == 0, err
    ((where, demo, n),) = seen
    assert demo is True and n > 100
    assert not where.exists() and not where.parent.exists()  # the temporary copy is gone


def test_demo_console_ignores_the_environment_database(cli, monkeypatch, db_path, inbound):
    """Only a --db on the command line takes the demo; $DISPATCHDESK_DB still gets a temporary copy."""
    seen = []
    _fake_module(monkeypatch, "dispatchdesk.tui.app",
                 run=lambda depot, **kw: seen.append(Path(depot.db.where)))
    monkeypatch.setenv("DISPATCHDESK_DB", str(db_path))
    rc, _, err = cli("--demo", db=False)
    assert rc == 0, err
    assert seen and seen[0] != db_path and not seen[0].exists()


def test_console_missing_is_a_sentence(cli, monkeypatch, inbound):
    monkeypatch.setitem(sys.modules, "dispatchdesk.tui.app", None)  # import fails
    rc, _, err = cli()
    assert rc == 1
    assert "not part of this installation" in err


def test_relay_command(cli, monkeypatch, db_path):
    calls = []
    _fake_module(monkeypatch, "dispatchdesk.link.relay",
                 run_relay=lambda depot, listen: calls.append((depot.db.where, listen)))
    rc, _, err = cli("relay", "--listen", "127.0.0.1:8799")
    assert rc == 0, err
    assert calls == [(str(db_path), "127.0.0.1:8799")]
    rc, _, err = cli("relay", "--listen", "nowhere")
    assert rc == 2 and "HOST:PORT" in err


def test_order_list_names_who_has_the_order_and_where_it_came_from(cli) -> None:
    """Issue 11, item 1: a list shows the holder as well as the source."""
    assert cli("init", "--demo")[0] == 0
    code, out, _ = cli("order", "list", "--status", "dispatched", "--limit", "50")
    assert code == 0 and "FROM → WITH" in out
    assert any("←" in line and "→" in line for line in out.splitlines()[1:])


def test_partner_add_warns_when_a_link_url_has_no_path(cli) -> None:
    """Issue 11, item 18: another depot listens on /link; a bare host answers 404."""
    code, out, err = cli("partner", "add", "Twin", "--role", "subcontractor",
                         "--url", "http://127.0.0.1:8800", "--secret", "s" * 20)
    assert code == 0 and "Partner Twin added." in out
    assert "/link" in err


def test_trash_and_reject_carry_a_reason_code_default_from_the_partner(cli, depot, rows, new_order):
    """Issue 9 item 7: --reason, else the partner's --reject-reason; shown and reported."""
    rc, out, err = cli("partner", "set", "Plain Client", "--reject-reason", "invalid-address")
    assert rc == 0, err
    rc, out, err = cli("partner", "list")
    assert "rejections carry INVALID_ADDRESS" in out
    trashed, rejected = new_order(source="Plain Client"), new_order(source="Plain Client")
    rc, out, err = cli("order", "trash", trashed, "--yes")
    assert rc == 0, err
    assert "Reason code: INVALID_ADDRESS (Plain Client's default)." in out
    rc, out, err = cli("order", "reject", rejected, "--reason", "DAMAGED", "--yes")
    assert rc == 0, err
    assert (rows(depot, trashed).order.reject_reason, rows(depot, rejected).order.reject_reason) == (
        "INVALID_ADDRESS", "DAMAGED")
    rc, out, err = cli("partner", "set", "Plain Client", "--reject-reason", "BORED")
    assert rc != 0 and "BORED" in err


def test_partner_answer_within_is_set_from_the_command_line(cli, depot) -> None:
    """Issue 9, item 1: the time to wait for a warehouse's answer is a partner setting."""
    from dispatchdesk.services import partner_input

    code, _, err = cli("partner", "add", "Depot W", "--role", "warehouse", "--answer-within", "600")
    assert code == 0, err
    assert partner_input(depot, "Depot W").answer_within_seconds == 600
    assert cli("partner", "set", "Depot W", "--answer-within", "0")[0] == 0
    assert partner_input(depot, "Depot W").answer_within_seconds == 0
    code, _, err = cli("partner", "set", "Depot W", "--answer-within", "-5")
    assert code == 2 and "--answer-within cannot be negative" in err
