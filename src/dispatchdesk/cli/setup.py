"""``dispatchdesk init`` and ``dispatchdesk settings``."""

from __future__ import annotations

import click

from .root import CONTEXT, EXIT_OK, Command, _cell, _open, db_option, out


@click.command(cls=Command, context_settings=CONTEXT, short_help="create or upgrade the database")
@db_option
@click.option("--demo", is_flag=True, help="fill it with the demo depot (it must have no orders)")
@click.option("--demo-partners", is_flag=True,
              help="add only the demo partners (to import data/demo.json or data/sample-import.json)")
def init(demo: bool, demo_partners: bool) -> int:
    """Create the database (or bring its schema up to date)."""
    if demo and demo_partners:
        raise click.UsageError("--demo-partners is not allowed with --demo.")
    from ..services import queries

    depot = _open(create=True)
    try:
        if demo:
            from ..demo import build_demo

            build_demo(depot)
        elif demo_partners:
            from ..demo import add_demo_partners

            add_demo_partners(depot)
        orders = sum(queries.counts(depot).values()) + sum(queries.counts(depot, archived=True).values())
        partners = len(queries.partner_names(depot))
        out(f"The database {depot.db.where} is ready: {partners} partners, {orders} orders.")
    finally:
        depot.close()
    return EXIT_OK


@click.command(cls=Command, context_settings=CONTEXT, short_help="show or change the depot's settings")
@db_option
@click.argument("key", required=False, metavar="KEY")
@click.argument("value", required=False, metavar="VALUE")
def settings(key: str | None, value: str | None) -> int:
    """Without arguments, every setting; with KEY, one; with KEY VALUE, change it."""
    from ..services import SETTINGS, InvalidInput, set_setting
    from ..services.archiving import DEFAULT_ARCHIVE_AFTER_DAYS
    from ..services.core import DEFAULT_UNDO_SECONDS

    defaults = {"undo_seconds": str(DEFAULT_UNDO_SECONDS),
                "archive_after_days": str(DEFAULT_ARCHIVE_AFTER_DAYS)}
    if key is not None and key not in SETTINGS:
        raise InvalidInput(f"Unknown setting {key!r}; the settings are: {', '.join(SETTINGS)}.")
    depot = _open()
    try:
        if key is not None and value is not None:
            set_setting(depot, key, value)
            out(f"{key} = {value}")
            return EXIT_OK
        keys = [key] if key else list(SETTINGS)
        width = max(len(k) for k in keys)
        for k in keys:
            v = depot.setting(k)
            shown = v if v is not None else (f"{defaults[k]} (default)" if k in defaults else "(not set)")
            out(f"{k.ljust(width)}  {_cell(shown)}  — {SETTINGS[k][0]}")
    finally:
        depot.close()
    return EXIT_OK
