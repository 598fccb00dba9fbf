"""The ``dispatchdesk`` command: the console, the relay, and scripted set-up, checks and actions.

    dispatchdesk                          open the console on the default database
    dispatchdesk --demo                   open it on a fresh copy of the demo depot
    dispatchdesk relay [--listen H:P]     the relay and link endpoint, no screen
    dispatchdesk doctor [--json]          the depot's health; exit 1 when a person is needed
    dispatchdesk init [--demo]            create (and migrate) the database
    dispatchdesk partner add|list|set     partners and their settings (SPEC 6)
    dispatchdesk settings [KEY [VALUE]]   the depot's settings
    dispatchdesk import FILE.json         orders, notices, follow-ups; all or nothing
    dispatchdesk export --format F        json, csv, xlsx or pdf, with filters
    dispatchdesk report                   work done; rejections and cancellations
    dispatchdesk order list|show|send|status|trash|cancel|reject|undo|duplicate|archive|tag …
    dispatchdesk rule add|list|set|test|delete   automation rules (issue 14)

``--db PATH-or-URL`` works before or after the command; ``DISPATCHDESK_DB`` does the same.
Without either, the database is ``depot.db`` in the user's data directory (platformdirs),
or in ``$DISPATCHDESK_HOME`` when that is set; its directory is created on first use.

Every command that changes an order prints what will happen (the same sentences as the
console's confirm) and asks ``Go ahead? [y/N]``, unless ``--yes``. Exit codes: 0 done,
1 refused or failed (the sentence says why, nothing was changed), 2 a usage error
(including a changing command with no terminal to ask on and no ``--yes``), 130 interrupted.

Built on click: one module per command group (``root`` holds the group, ``--db`` and what
the groups share; ``console``, ``setup``, ``partner``, ``data``, ``order``, ``doctor``), each imported
only when its command is named. Shell completion is click's own:
``eval "$(_DISPATCHDESK_COMPLETE=bash_source dispatchdesk)"`` (or ``zsh_source``, ``fish_source``).

Nothing heavy is imported at module level: ``--version`` and ``--help`` import click only; the
scripted commands never import textual or aiohttp; the console and the relay import them only
when started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from .root import (
    COMPLETE_VAR,
    ENV_DB,
    ENV_HOME,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    _clean,
    _confirm,
    _Exit,
    _report_error,
    data_home,
    database_location,
    default_database,
    err,
    root,
)

__all__ = ["ENV_DB", "ENV_HOME", "data_home", "database_location", "default_database", "main", "root"]

# _confirm is looked up here by the order commands when they ask (a test stands in for it)
_ = _confirm


_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    c for c in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if c is not None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    if COMPLETE_VAR in os.environ:  # the shell asks for completions: click answers and exits
        return root.main(prog_name="dispatchdesk", complete_var=COMPLETE_VAR)  # type: ignore[no-any-return]
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with root.make_context("dispatchdesk", args) as ctx:
            rv = root.invoke(ctx)
        return rv if isinstance(rv, int) else EXIT_OK
    except click.exceptions.Exit as e:  # --help, --version
        return e.exit_code
    except _NO_ARGS_IS_HELP as e:  # `dispatchdesk order`: its help, as a usage error (click >= 8.2)
        e.show()
        return EXIT_USAGE
    except click.UsageError as e:
        _show_usage_error(e)
        return EXIT_USAGE
    except click.ClickException as e:
        err(f"dispatchdesk: error: {e.format_message()}")
        return e.exit_code
    except _Exit as e:
        return e.code
    except (KeyboardInterrupt, click.Abort):
        err("Interrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`dispatchdesk order list | head`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except Exception as e:  # noqa: BLE001 - the known ones become sentences
        from ..services import ERRORS

        if isinstance(e, ERRORS):
            _report_error(e)
            return EXIT_REFUSED
        raise


def _show_usage_error(e: click.UsageError) -> None:
    """The command's usage line, then one sentence naming the problem (through the sanitiser:
    the words may quote what was typed)."""
    ctx = e.ctx
    if ctx is not None:
        err(ctx.get_usage())
        hint = f"Try '{ctx.command_path} --help' for help." if ctx.command.get_help_option(ctx) else ""
        if hint:
            err(hint)
    err(f"{ctx.command_path if ctx is not None else 'dispatchdesk'}: error: {_clean(e.format_message())}")
