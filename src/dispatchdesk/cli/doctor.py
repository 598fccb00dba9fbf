"""``dispatchdesk doctor``: the depot's health for an admin (the facts: services.health)."""

from __future__ import annotations

import sys

import click

from .root import (
    CONTEXT,
    EXIT_OK,
    EXIT_REFUSED,
    Command,
    current_db,
    database_location,
    db_option,
    err,
    out,
)


def _parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise click.UsageError(f"--max-lag: {value!r} is not a number of seconds.") from None
    if not 0 < seconds <= 86400 * 7:
        raise click.UsageError(f"--max-lag: {value!r} is not between 1 second and 7 days (604800).")
    return seconds


@click.command(cls=Command, context_settings=CONTEXT, short_help="the depot's health; exit 1 when a person is needed")
@db_option
@click.option("--json", "as_json", is_flag=True, help="the facts and the problems as one JSON object")
@click.option("--max-lag", metavar="SECONDS", default="60", show_default=True,
              help="how far behind (seconds) the relay may be before a person is needed")
def doctor(as_json: bool, max_lag: str) -> int:
    """The database (engine, version, the WAL-reset bug and its guard, journal mode, schema,
    size, free disk), the relay workers and their lag, each partner's link, the consoles
    connected: one line per fact. Exit 1, with the sentences naming what needs a person, when
    something does. The depot's data is never changed, nor its schema upgraded."""
    lag = _parse_seconds(max_lag)
    from ..services.health import examine

    report = examine(database_location(current_db(), create_dir=False), max_lag=lag)
    if as_json:
        import json

        json.dump(report.as_json(), sys.stdout, ensure_ascii=True, indent=1)
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            out(line)
        for problem in report.problems:
            err(problem)
        if report.ok:
            out("Nothing needs a person.")
    return EXIT_OK if report.ok else EXIT_REFUSED
