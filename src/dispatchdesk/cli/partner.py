"""``dispatchdesk partner add|list|set``: partners and their settings (SPEC 6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .root import (
    ANSWER_WITHIN,
    CANCEL_METHODS,
    CONTEXT,
    EXIT_OK,
    REJECTION_MAPS,
    ROLES,
    WINDOW,
    LazyGroup,
    _cell,
    _open,
    _when,
    complete_partner,
    db_option,
    err,
    out,
)

F = TypeVar("F", bound=Callable[..., Any])


def _partner_flags(*, editing: bool) -> Callable[[F], F]:
    """The settings of ``partner add`` and ``partner set``; when editing, every flag has its
    --no-FLAG and an option not given is None (left as it is)."""

    def flag(name: str, help_: str) -> Callable[[F], F]:
        if editing:
            return click.option(f"--{name}/--no-{name}", default=None, help=help_)
        return click.option(f"--{name}", is_flag=True, help=help_)

    options = [
        click.option("--role", type=click.Choice(ROLES), required=not editing, help="what the partner is to us"),
        click.option("--url", help="HTTP link endpoint (needs --secret); '' removes it"),
        click.option("--secret", help="shared secret of the HTTP link, at least 16 characters"),
        click.option("--email", metavar="ADDR", help="e-mail address for notices; '' removes it"),
        flag("auto-trash", "orders this partner revokes are cancelled here automatically (SPEC 4.2)"),
        click.option("--rejection-maps-to", type=click.Choice(REJECTION_MAPS),
                     help="what this partner's rejection does to our order (default rejected)"),
        click.option("--cancel-method", type=click.Choice(CANCEL_METHODS),
                     help="how cancellations reach it: api, api-window (needs --window), email, manual"),
        click.option("--window", type=WINDOW, metavar="SECONDS",
                     help="the api-window: seconds after dispatch in which a cancellation is sent"),
        click.option("--answer-within", type=ANSWER_WITHIN, metavar="SECONDS",
                     help="how long to wait for its answer to a cancellation (a warehouse's yes or "
                          "no) before a follow-up chases it; 0 = no limit (default 1800)"),
        flag("reason-required", "every cancellation needs a reason code"),
        flag("follow-up", "a follow-up after every cancellation or rejection sent, to check on it"),
        flag("pass-cancellations", "pass warehouse cancellations on to this channel (SPEC 4.4)"),
        click.option("--reject-reason", metavar="CODE",
                     help="the reason code its orders are trashed or rejected with unless one is "
                          "chosen (NOT_IN_STOCK, DAMAGED, INCOMPLETE, CLIENT_CANCELLED, "
                          "INVALID_ADDRESS, OTHER); '' removes it"),
    ]

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def _partner_values(given: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line, as PartnerInput fields."""
    v: dict[str, Any] = {}
    for arg, fld in (("role", "role"), ("url", "url"), ("secret", "secret"), ("email", "email"),
                     ("auto_trash", "auto_trash"), ("rejection_maps_to", "rejection_maps_to"),
                     ("cancel_method", "cancel_method"), ("window", "window_seconds"),
                     ("answer_within", "answer_within_seconds"),
                     ("reason_required", "reason_required"), ("follow_up", "follow_up_after_send"),
                     ("pass_cancellations", "pass_cancellations"), ("reject_reason", "reject_reason")):
        value = given.get(arg)
        if value is not None:
            v[fld] = value
    return v


@click.group(cls=LazyGroup, context_settings=CONTEXT, short_help="add, list and change partners")
@db_option
def partner() -> None:
    """Add, list and change partners and their settings (SPEC 6)."""


@partner.command("add", context_settings=CONTEXT, short_help="add a partner")
@db_option
@click.argument("name", metavar="NAME")
@_partner_flags(editing=False)
def partner_add(name: str, **given: Any) -> int:
    """Add a partner. Its link is HTTP with --url and --secret, e-mail with --email, else none
    (every notice becomes a follow-up)."""
    from ..services import PartnerInput, add_partner

    values = _partner_values(given)
    depot = _open()
    try:
        added = add_partner(depot, PartnerInput(name=name, **values))
    finally:
        depot.close()
    out(added.text)
    _warn_url(values.get("url"))
    return EXIT_OK


def _warn_url(url: str | None) -> None:
    from ..services.setup import partner_url_warning

    warning = partner_url_warning(url)
    if warning:
        err(warning)


@partner.command("list", context_settings=CONTEXT, short_help="list the partners (secrets are never shown)")
@db_option
def partner_list() -> int:
    """List the partners, their links and settings (secrets are never shown)."""
    from ..services import queries

    depot = _open()
    try:
        partners = queries.partners(depot)
    finally:
        depot.close()
    if not partners:
        out("No partners yet: add one with dispatchdesk partner add NAME --role ROLE.")
        return EXIT_OK
    for p in partners:
        if p.link == "http":
            link = f"HTTP {p.url}, secret {p.secret_hint}"
        elif p.link == "email":
            link = f"e-mail {p.email}"
        else:
            link = "no link (follow-ups)"
        method = p.cancel_method + (f" {p.window_seconds} s" if p.cancel_method.startswith("api-window") else "")
        settings = [f"cancel {method}", f"rejections → {p.rejection_maps_to.capitalize()}"]
        if p.reason_required:
            settings.append("reason required")
        if p.follow_up_after_send:
            settings.append("follow-up after sending")
        if p.auto_trash:
            settings.append("auto-trash")
        if p.pass_cancellations:
            settings.append("pass cancellations on")
        if p.reject_reason:
            settings.append(f"rejections carry {p.reject_reason}")
        if p.link_stopped:
            settings.append("LINK STOPPED")
        out(f"{_cell(p.name)}  ({p.role})  {_cell(link)}")
        out(f"    {'; '.join(settings)}; notices waiting {p.waiting}, failed {p.failed}")
        if p.last_error:
            out(f"    last error {_when(p.last_error_at)}: {_cell(p.last_error, 200)}")
    return EXIT_OK


@partner.command("set", context_settings=CONTEXT, short_help="change a partner's settings")
@db_option
@click.argument("name", metavar="NAME", shell_complete=complete_partner)
@click.option("--rename", metavar="NEW_NAME", help="give the partner a new name")
@_partner_flags(editing=True)
def partner_set(name: str, rename: str | None, **given: Any) -> int:
    """Change only the settings given; --no-FLAG switches a flag off."""
    from dataclasses import replace

    from ..services import partner_input, update_partner

    values = _partner_values(given)
    if rename is not None:
        values["name"] = rename
    depot = _open()
    try:
        current = partner_input(depot, name)
        if (values.get("cancel_method") not in (None, "api-window", "api-window-then-email")
                and "window_seconds" not in values):
            values["window_seconds"] = 0
        changed = update_partner(depot, current.name, replace(current, **values))
    finally:
        depot.close()
    out(changed.text)
    _warn_url(values.get("url"))
    return EXIT_OK
