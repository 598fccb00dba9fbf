"""``dispatchdesk rule add|list|set|test|delete``: the depot's automation rules (issue 14).

    dispatchdesk rule add "Frozen to Kälte" --when "enters Created" --if "partner Shopwise" \\
        --if "has-tag frozen" --do "send Kälte"
    dispatchdesk rule list
    dispatchdesk rule set "Frozen to Kälte" --off | --on | --up | --down | --do "add-tag cold" …
    dispatchdesk rule test "Frozen to Kälte" --order DD-000001 --since 7d

Saving prints what the rule does and how often it would have fired in the last 7 days (the
backtest), and refuses a rule set that can loop or contradict itself, naming the rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import click

from .root import (
    CONTEXT,
    EXIT_OK,
    LazyGroup,
    _cell,
    _Exit,
    _open,
    _when,
    complete_order,
    db_option,
    out,
)


def complete_rule(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    from ..services import rule_names

    try:
        depot = _open()
    except Exception:  # noqa: BLE001 - completion never fails loudly
        return []
    try:
        return [n for n in rule_names(depot) if n.lower().startswith(incomplete.lower())]
    finally:
        depot.close()


def _since(text: str | None) -> timedelta | None:
    """'7d', '12h', '30m', '2w' -> a period back from now."""
    if text is None:
        return None
    from ..services import InvalidInput

    m = re.fullmatch(r"\s*(\d{1,4})\s*([wdhm])\s*", text.lower())
    if not m:
        raise InvalidInput(f"--since {text!r} is not a period like 7d, 12h, 30m or 2w.", field="since")
    n, unit = int(m.group(1)), m.group(2)
    return {"w": timedelta(weeks=n), "d": timedelta(days=n), "h": timedelta(hours=n),
            "m": timedelta(minutes=n)}[unit]


def _rule_options(*, editing: bool) -> Any:
    from ..domain.automation import CONDITION_HELP, EFFECT_HELP, TRIGGER_HELP

    options = [
        click.option("--when", "when", required=not editing, metavar="TRIGGER",
                     help=f"the change that starts the rule: {TRIGGER_HELP}"),
        click.option("--if", "conditions", multiple=True, metavar="CONDITION",
                     help=f"a condition (repeat: all must hold): {CONDITION_HELP}"),
        click.option("--do", "effects", multiple=True, required=False, metavar="EFFECT",
                     help=f"an effect (repeat, in order): {EFFECT_HELP}"),
    ]
    if editing:
        options += [
            click.option("--no-conditions", is_flag=True, help="remove every condition"),
            click.option("--on/--off", "enabled", default=None, help="turn the rule on or off"),
            click.option("--stop/--no-stop", "stop_after", default=None,
                         help="stop trying the rules after this one when it fires"),
            click.option("--rename", metavar="NEW_NAME", help="give the rule a new name"),
            click.option("--up", "move", flag_value="up", default=None, help="try it one place earlier"),
            click.option("--down", "move", flag_value="down", help="try it one place later"),
        ]
    else:
        options += [
            click.option("--off", "off", is_flag=True, help="add it turned off"),
            click.option("--stop", "stop_after", is_flag=True,
                         help="stop trying the rules after this one when it fires"),
        ]

    def apply(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


@click.group(cls=LazyGroup, context_settings=CONTEXT, short_help="add, list, change and test automation rules")
@db_option
def rule() -> None:
    """Automation rules: when an order enters a list (or a tag is added, or an order arrives),
    act on it. Every confirm shows the rules that will fire before they act."""


def _show_preview(pv: Any) -> None:
    for line in pv.lines:
        out(line)


def _refused(pv: Any) -> _Exit:
    from .root import err

    for r in pv.refusals:
        err(r)
    return _Exit(1)


@rule.command("add", context_settings=CONTEXT, short_help="add a rule (at the end of the list)")
@db_option
@click.argument("name", metavar="NAME")
@_rule_options(editing=False)
def rule_add(name: str, when: str, conditions: Sequence[str], effects: Sequence[str], off: bool,
             stop_after: bool) -> int:
    """Add a rule, tried after the ones there are. Prints the rule in words and how often it
    would have fired in the last 7 days."""
    from ..services import (
        InvalidInput,
        RuleInput,
        SaveRule,
        parse_condition,
        parse_effect,
        parse_trigger,
    )

    if not effects:
        raise InvalidInput("Say what the rule does with at least one --do EFFECT.", field="effects")
    ri = RuleInput(
        name,
        parse_trigger(when),
        tuple(parse_condition(c) for c in conditions),
        tuple(parse_effect(e) for e in effects),
        enabled=not off,
        stop_after=stop_after,
    )
    depot = _open()
    try:
        action = SaveRule(ri)
        pv = action.preview(depot)
        if not pv.allowed:
            raise _refused(pv)
        result = action.execute(depot)
    finally:
        depot.close()
    out(result.rule.words if result.rule else "")
    out(result.message)
    return EXIT_OK


@rule.command("list", context_settings=CONTEXT, short_help="the rules, in the order they are tried")
@db_option
def rule_list() -> int:
    """The rules in the order they are tried: number, on/off, name, version, what it does."""
    from ..services import rules

    depot = _open()
    try:
        views = rules(depot)
    finally:
        depot.close()
    if not views:
        out('No rules yet: add one with dispatchdesk rule add NAME --when "enters Created" --do "…".')
        return EXIT_OK
    for v in views:
        state = "on " if v.enabled else "OFF"
        stop = "  (stops the rules after it)" if v.stop_after else ""
        out(f"{v.position:>3}  {state}  {_cell(v.name)}  v{v.version}{stop}")
        out(f"       {_cell(v.words, 300)}")
        out(f"       changed {_when(v.updated_at)} by {_cell(v.updated_by)}")
    return EXIT_OK


@rule.command("set", context_settings=CONTEXT, short_help="change a rule, move it, turn it on or off")
@db_option
@click.argument("ref", metavar="RULE", shell_complete=complete_rule)
@_rule_options(editing=True)
def rule_set(ref: str, when: str | None, conditions: Sequence[str], effects: Sequence[str],
             no_conditions: bool, enabled: bool | None, stop_after: bool | None, rename: str | None,
             move: str | None) -> int:
    """Change only what is given: --when replaces the trigger, --if the conditions, --do the
    effects; --on/--off, --up/--down. RULE is its name or number."""
    from ..services import (
        EnableRule,
        InvalidInput,
        MoveRule,
        RuleInput,
        SaveRule,
        parse_condition,
        parse_effect,
        parse_trigger,
        rules,
    )

    depot = _open()
    try:
        views = rules(depot)
        view = next((v for v in views if v.name == " ".join(ref.split()) or ref.lstrip("#") == str(v.id)),
                    None)
        if view is None:
            from ..services import NotFound

            known = ", ".join(v.name for v in views) or "none yet"
            raise NotFound(f"There is no rule {ref!r} (rules: {known}).")
        current = view.rule
        edits = when is not None or conditions or effects or no_conditions or stop_after is not None \
            or rename is not None
        if conditions and no_conditions:
            raise InvalidInput("Give --if or --no-conditions, not both.", field="conditions")
        done = False
        if edits:
            ri = RuleInput(
                rename if rename is not None else current.name,
                parse_trigger(when) if when is not None else current.trigger,
                () if no_conditions else tuple(parse_condition(c) for c in conditions) if conditions
                else current.conditions,
                tuple(parse_effect(e) for e in effects) if effects else current.effects,
                enabled=current.enabled if enabled is None else enabled,
                stop_after=current.stop_after if stop_after is None else stop_after,
            )
            action: Any = SaveRule(ri, rule_id=view.id, expected_version=view.version)
            pv = action.preview(depot)
            if not pv.allowed:
                raise _refused(pv)
            result = action.execute(depot)
            out(result.message)
            done = True
        elif enabled is not None:
            action = EnableRule(view.id, enabled)
            pv = action.preview(depot)
            if not pv.allowed:
                raise _refused(pv)
            out(action.execute(depot).message)
            done = True
        if move is not None:
            action = MoveRule(view.id, up=move == "up")
            pv = action.preview(depot)
            if not pv.allowed:
                raise _refused(pv)
            out(action.execute(depot).message)
            done = True
        if not done:
            raise InvalidInput(
                "Say what to change: --when, --if, --do, --on/--off, --stop, --rename, --up or --down."
            )
    finally:
        depot.close()
    return EXIT_OK


@rule.command("delete", context_settings=CONTEXT, short_help="delete a rule")
@db_option
@click.argument("ref", metavar="RULE", shell_complete=complete_rule)
@click.option("--yes", "-y", is_flag=True, help="do it without asking")
def rule_delete(ref: str, yes: bool) -> int:
    """Delete a rule; the history keeps what it did."""
    from ..services import DeleteRule
    from . import _confirm

    depot = _open()
    try:
        action = DeleteRule(ref)
        pv = action.preview(depot)
        _confirm(yes, pv.lines)
        out(action.execute(depot).message)
    finally:
        depot.close()
    return EXIT_OK


@rule.command("test", context_settings=CONTEXT, short_help="try a rule on an order and against the history")
@db_option
@click.argument("ref", metavar="RULE", shell_complete=complete_rule)
@click.option("--order", "number", metavar="NUMBER", shell_complete=complete_order,
              help="say whether it fires on this order, and what it does (nothing is changed)")
@click.option("--since", metavar="PERIOD", help="how far back to try it against the history: 7d, 12h, 2w (default 7d)")
@click.option("--list", "show", is_flag=True, help="list the changes it would have fired on")
def rule_test(ref: str, number: str | None, since: str | None, show: bool) -> int:
    """Try a rule without it acting: on one order (--order), and against the history of the
    last 7 days (or --since): how many changes it would have fired on."""
    from ..services import rule_test as run_test

    period = _since(since)
    depot = _open()
    try:
        result = run_test(depot, ref, number=number, since=period)
    finally:
        depot.close()
    for line in result.lines:
        out(line)
    if show:
        for h in result.hits:
            out(f"  {_when(h.at)}  {_cell(h.order)}  {h.change}")
    return EXIT_OK
