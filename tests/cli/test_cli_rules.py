"""Issue 14: `dispatchdesk rule add|list|set|test|delete`, and --without-rules on the order
commands, run in-process through main(); what they did is read back from the database."""

from __future__ import annotations

import pytest

from dispatchdesk.cli import main
from dispatchdesk.services import dispatch, rules

pytestmark = pytest.mark.usefixtures("partners")


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


FROZEN = ("rule", "add", "Frozen to Swift", "--when", "enters Created", "--if", "has-tag frozen",
          "--do", "send Swift Haulage", "--do", "follow-up Pack it with ice")


def test_rule_add_prints_it_in_words_with_its_backtest_and_list_shows_it(cli, depot):
    rc, out, err = cli(*FROZEN)
    assert (rc, err) == (0, "")
    assert out.splitlines() == [
        "When an order enters Created and it has the tag frozen: send it to Swift Haulage; "
        "create a follow-up: Pack it with ice.",
        "Rule 'Frozen to Swift' added (version 1). Would have fired on 0 changes in the last 7 days.",
    ]
    rc, out, _ = cli("rule", "list")
    assert rc == 0
    assert out.splitlines()[0].split() == ["1", "on", "Frozen", "to", "Swift", "v1"]
    assert [v.name for v in rules(depot)] == ["Frozen to Swift"]


@pytest.mark.parametrize("args, sentence", [
    (("rule", "add", "X", "--when", "whenever", "--do", "add-tag a"),
     "The trigger 'whenever' is not one I know; write enters STATUS"),
    (("rule", "add", "X", "--when", "enters Created"), "Say what the rule does with at least one --do EFFECT."),
    (("rule", "add", "X", "--when", "enters Created", "--do", "send Nobody"), "There is no partner named 'Nobody'"),
    (("rule", "set", "Nope", "--off"), "There is no rule 'Nope' (rules: none yet)."),
    (("rule", "test", "Nope"), "There is no rule 'Nope' (rules: none yet)."),
])
def test_errors_are_one_sentence_and_exit_1(cli, depot, args, sentence):
    rc, out, err = cli(*args)
    assert rc == 1
    assert err.startswith(sentence) and len(err.strip().splitlines()) == 1
    assert rules(depot) == []


def test_a_loop_is_refused_naming_the_rules(cli, depot):
    cli("rule", "add", "Ping", "--when", "tag-added hot", "--do", "add-tag cold")
    rc, _, err = cli("rule", "add", "Pong", "--when", "tag-added cold", "--do", "add-tag hot")
    assert rc == 1
    assert err.strip() == ("These rules trigger each other in a loop: 'Ping' (version 1) → 'Pong' (version 1) "
                           "→ 'Ping' (version 1).")
    assert [v.name for v in rules(depot)] == ["Ping"]


def test_rule_set_edits_moves_and_turns_off(cli, depot):
    cli(*FROZEN)
    cli("rule", "add", "Second", "--when", "enters Accepted", "--do", "add-tag ok")
    rc, out, _ = cli("rule", "set", "Second", "--up", "--off")
    assert rc == 0
    assert out.splitlines() == ["Rule 'Second' is off.", "Rule 'Second' is now tried before rule 'Frozen to Swift'."]
    rc, out, _ = cli("rule", "set", "Frozen to Swift", "--do", "send Van Man")
    assert rc == 0 and out.startswith("Rule 'Frozen to Swift' changed (version 2).")
    assert [(v.name, v.enabled, v.version, v.effects) for v in rules(depot)] == [
        ("Second", False, 1, ("add the tag ok",)), ("Frozen to Swift", True, 2, ("send it to Van Man",))]
    rc, out, _ = cli("rule", "delete", "Second", "--yes")
    assert rc == 0 and out.splitlines()[-1] == "Rule 'Second' deleted."


def test_rule_test_on_an_order_and_since(cli, depot, new_order):
    cli(*FROZEN)
    n = new_order(source="Plain Client", tags=["frozen"])
    dispatch(depot, n, "Van Man")
    # the command line runs on the real clock, the test's depot on a 2025 one: reach back far enough
    rc, out, _ = cli("rule", "test", "Frozen to Swift", "--order", n, "--since", "100w", "--list")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == f"If an order enters Created now, rule 'Frozen to Swift' (version 1) fires on order {n}:"
    assert lines[-2] == "Would have fired on 1 change in the last 700 days."
    assert lines[-1].endswith(f"  {n}  it enters Created")
    rc, _, err = cli("rule", "test", "Frozen to Swift", "--since", "soon")
    assert (rc, err.strip()) == (1, "--since 'soon' is not a period like 7d, 12h, 30m or 2w.")


def test_order_commands_show_the_rules_and_take_without_rules(cli, depot, new_order, rows):
    cli(*FROZEN)
    n = new_order(source="Plain Client", tags=["frozen"])
    dispatch(depot, n, "Van Man")
    rc, out, _ = cli("order", "status", n, "created", "--yes", "--without-rules")
    assert rc == 0
    assert "Without rules: 'Frozen to Swift' (version 1) will not fire; the history says so." in out
    x = rows(depot, n)
    assert x.order.status == "created" and x.last.detail.endswith("Acted without rules.")
    dispatch(depot, n, "Van Man")
    rc, out, _ = cli("order", "status", n, "created", "--yes")
    assert rc == 0
    assert "Rule 'Frozen to Swift' (version 1) fires (it enters Created):" in out
    assert rows(depot, n).order.assignee.name == "Swift Haulage"
