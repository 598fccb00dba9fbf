"""The root group and what every command group shares: where the data is, output through the
sanitiser, the argument types, ``--db`` and ``--yes``, the question, and the exit codes.

Only click is imported here; the services, the store and the domain are imported inside the
functions that need them, so ``--version`` and ``--help`` stay quick.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__

if TYPE_CHECKING:
    from ..services import Depot

F = TypeVar("F", bound=Callable[..., Any])

ENV_DB = "DISPATCHDESK_DB"
ENV_HOME = "DISPATCHDESK_HOME"
#: click's own shell completion: ``eval "$(_DISPATCHDESK_COMPLETE=bash_source dispatchdesk)"``
COMPLETE_VAR = "_DISPATCHDESK_COMPLETE"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ROLES = ("client", "subcontractor", "channel", "warehouse")
CANCEL_METHODS = ("api", "api-window", "email", "manual", "api-window-then-email")
REJECTION_MAPS = ("rejected", "created")
EXPORT_FORMATS = ("json", "csv", "xlsx", "pdf")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Exit(Exception):
    """Stop the command with this exit code (after its sentences were printed)."""

    def __init__(self, code: int) -> None:
        self.code = code


# =========================================================================== where the data is


def data_home() -> Path:
    """The directory of the default database: $DISPATCHDESK_HOME, else platformdirs'."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    import platformdirs

    return platformdirs.user_data_path("dispatchdesk")


def default_database() -> Path:
    """The default database file (not created here)."""
    return data_home() / "depot.db"


def database_location(arg: str | None, *, create_dir: bool = True) -> str:
    """The one place that decides which database a command opens.

    ``--db`` wins, then ``$DISPATCHDESK_DB``, then the default file, whose directory is
    created on first use. An explicit path whose directory is missing is NOT created: the
    store refuses it with a sentence naming the directory (a typo should not make a new,
    empty depot somewhere).
    """
    if arg:
        return arg
    env = os.environ.get(ENV_DB)
    if env:
        return env
    path = default_database()
    if create_dir:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from ..services import StorageError

            raise StorageError(
                f"Cannot create the data directory {path.parent}: {e.strerror or e}. "
                f"Use --db or set {ENV_DB}."
            ) from None
    return str(path)


_DB_KEY = "dispatchdesk.db"


def _remember_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--db`` is an option of the root, of ``order``/``partner`` and of every command: the
    innermost one given wins (click parses them outside in), as with the old parser."""
    meta = ctx.find_root().meta
    if value is not None or _DB_KEY not in meta:
        meta[_DB_KEY] = value
    return value


def db_option(f: F) -> F:
    """``--db`` after a command (or between ``order``/``partner`` and their action)."""
    return click.option("--db", metavar="PATH-or-URL", expose_value=False, callback=_remember_db,
                        help=f"database file or SQLAlchemy URL (also ${ENV_DB})")(f)


def current_db() -> str | None:
    """The ``--db`` given anywhere on the command line, else ``$DISPATCHDESK_DB`` (or None)."""
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta.get(_DB_KEY) if ctx is not None else None


def _open(*, create: bool = False) -> Depot:
    """The command's depot. Only `init` (create=True) and the first run on the default path make
    one; every other command refuses a file that is not a depot and leaves it unchanged."""
    from ..services import Depot

    given = current_db() or os.environ.get(ENV_DB)
    return Depot.open(database_location(current_db()), create=create or not given)


def yes_option(f: F) -> F:
    return click.option("-y", "--yes", is_flag=True, help="do it without asking")(f)


# =========================================================================== output


def _clean(value: object, **kw: Any) -> str:
    from ..text import clean

    return clean(value, **kw)


def out(text: object = "") -> None:
    """One line (or several) to standard output, through the sanitiser."""
    print(_clean(text))


def err(text: object) -> None:
    print(_clean(text), file=sys.stderr)


def _cell(value: object, limit: int | None = None) -> str:
    """Outside text on one line, cut to ``limit`` characters (with an ellipsis)."""
    return _clean(value, single_line=True, limit=limit)


def _col(value: object, width: int) -> str:
    """Outside text as a fixed-width column."""
    return _cell(value, width).ljust(width)


def _when(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    return dt.astimezone().strftime("%Y-%m-%d %H:%M")


def _age(now: datetime, then: datetime) -> str:
    s = max(0, int((now - then).total_seconds()))
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400 * 2:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _usage(message: str) -> _Exit:
    err(f"dispatchdesk: error: {message}")
    return _Exit(EXIT_USAGE)


def _report_error(e: BaseException) -> None:
    reasons = getattr(e, "reasons", None)
    if reasons and len(reasons) > 1:
        for r in reasons:
            err(r)
    else:
        err(str(e))


def _confirm(yes: bool, lines: Sequence[str]) -> None:
    """Print what will happen; go on if --yes or the dispatcher says y; else stop."""
    for line in lines:
        out(line)
    if yes:
        return
    stdin = sys.stdin
    if stdin is None or not _isatty(stdin):
        err("There is no terminal to ask \"Go ahead?\" on: pass --yes to do it without the question. "
            "Nothing was changed.")
        raise _Exit(EXIT_USAGE)
    try:
        answer = input("Go ahead? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        out("Nothing was changed.")
        raise _Exit(EXIT_REFUSED)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# =========================================================================== argument types


class ArgType(click.ParamType):
    """An argument checked by ``parse`` (which raises ValueError with the sentence to show)."""

    def __init__(self, name: str, parse: Callable[[str], Any],
                 complete: Callable[[], Sequence[str]] | None = None) -> None:
        self.name = name
        self._parse = parse
        self._complete = complete

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[click.shell_completion.CompletionItem]:
        from click.shell_completion import CompletionItem

        words = self._complete() if self._complete else ()
        return [CompletionItem(w) for w in words if w.startswith(incomplete.lower())]


def _parse_status(text: str) -> Any:
    from ..domain import Status

    return Status.parse(text)


def _status_words() -> list[str]:
    from ..domain import Status

    return [s.value for s in Status]


def _parse_reason(text: str) -> Any:
    from ..domain import ReasonCode

    return ReasonCode.parse(text)


def _reason_words() -> list[str]:
    from ..domain import ReasonCode

    return [r.value.lower() for r in ReasonCode]


def _parse_line(text: str) -> tuple[str, int]:
    article, sep, qty = text.rpartition("=")
    if not sep or not article.strip():
        raise ValueError(f"{text!r} is not ARTICLE=QUANTITY (for example BOX-S=2)")
    try:
        n = int(qty)
    except ValueError:
        raise ValueError(f"the quantity in {text!r} is not a whole number") from None
    if n < 1:
        raise ValueError(f"the quantity in {text!r} must be 1 or more")
    return article.strip(), n


def _parse_listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8730)")
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"the port in {text!r} is not a number") from None
    if not 0 < p < 65536:
        raise ValueError(f"the port in {text!r} must be from 1 to 65535")
    return text


def _parse_window(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--window takes whole seconds, not {text!r}") from None
    if n < 0:
        raise ValueError("--window cannot be negative")
    return n


def _parse_answer_within(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--answer-within takes whole seconds, not {text!r}") from None
    if n < 0:
        raise ValueError("--answer-within cannot be negative")
    return n


STATUS = ArgType("STATUS", _parse_status, _status_words)
REASON = ArgType("CODE", _parse_reason, _reason_words)
LINE = ArgType("ARTICLE=QTY", _parse_line)
LISTEN = ArgType("HOST:PORT", _parse_listen)
WINDOW = ArgType("SECONDS", _parse_window)
ANSWER_WITHIN = ArgType("SECONDS", _parse_answer_within)


# =========================================================================== completion from the depot


def _complete_from_depot(ctx: click.Context, fetch: Callable[[Depot, str], Sequence[str]],
                         incomplete: str) -> list[str]:
    """Shell completion of names kept in the depot; nothing (never an error) when the database
    cannot be read. A database that does not exist yet is not created for it."""
    try:
        db = ctx.find_root().meta.get(_DB_KEY)
        location = database_location(db, create_dir=False)
        if "://" not in location and not Path(location).is_file():
            return []
        from ..services import Depot

        depot = Depot.open(location, create=False)
        try:
            # a name the sanitiser would change (control characters…) is not offered: it
            # would reach the terminal raw, and could not be typed anyway
            return [w for w in fetch(depot, incomplete)
                    if w.lower().startswith(incomplete.lower()) and _cell(w) == w]
        finally:
            depot.close()
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []


def complete_order(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    def numbers(depot: Depot, text: str) -> list[str]:
        from ..domain import ALL_STATUSES
        from ..services import queries

        found: set[str] = set()
        for archived in (False, True):  # archived ones too (order archive --restore)
            flt = queries.BoardFilter(text=text, archived=archived, statuses=ALL_STATUSES)
            found.update(c.number for c in queries.board(depot, flt, limit=200))
        return sorted(found)

    return _complete_from_depot(ctx, numbers, incomplete)


def complete_partner(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    def names(depot: Depot, _text: str) -> list[str]:
        from ..services import queries

        return queries.partner_names(depot)

    return _complete_from_depot(ctx, names, incomplete)


# =========================================================================== the root group


def _expand_prefixes(cmd: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    """A long option may be shortened to any prefix that names only one of the command's
    options (``--lim`` for ``--limit``), as argparse allowed. A token that is the value of
    the option before it is left alone; so is everything after ``--``, and a group's
    subcommand with its arguments."""
    takes_value: dict[str, bool] = {}
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option):
            for o in (*p.opts, *p.secondary_opts):
                takes_value[o] = not p.is_flag and not p.count
    longs = [o for o in takes_value if o.startswith("--")]
    out: list[str] = []
    value_next = False
    for i, a in enumerate(args):
        if value_next:
            out.append(a)
            value_next = False
            continue
        if a == "--" or (isinstance(cmd, click.Group) and not a.startswith("-")):
            out.extend(args[i:])
            break
        name, eq, value = a.partition("=")
        if a.startswith("--") and name not in takes_value:
            hits = [o for o in longs if o.startswith(name)]
            if len(hits) == 1:
                name = hits[0]
            elif len(hits) > 1 and not ctx.resilient_parsing:
                raise click.UsageError(f"ambiguous option: {name} could match {', '.join(hits)}", ctx)
        out.append(name + eq + value if a.startswith("--") else a)
        value_next = takes_value.get(name, False) and not eq
    return out


class Command(click.Command):
    """A command that takes shortened long options, as before."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _expand_prefixes(self, ctx, args))


class LazyGroup(click.Group):
    """A group whose commands live in other modules, imported only when named (or for --help)."""

    command_class = Command  # what @group.command() makes

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lazy = dict(lazy or {})  # name -> "module:attribute", relative to this package

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _expand_prefixes(self, ctx, args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return self.commands.get(cmd_name)
        import importlib

        module, _, attr = self.lazy[cmd_name].partition(":")
        cmd: click.Command = getattr(importlib.import_module(module, __package__), attr)
        self.commands[cmd_name] = cmd
        return cmd


@click.group(
    cls=LazyGroup,
    name="dispatchdesk",
    context_settings=CONTEXT,
    invoke_without_command=True,
    lazy={
        "init": ".setup:init",
        "relay": ".console:relay",
        "doctor": ".doctor:doctor",
        "partner": ".partner:partner",
        "settings": ".setup:settings",
        "import": ".data:import_",
        "export": ".data:export",
        "report": ".data:report",
        "order": ".order:order",
        "rule": ".rule:rule",
    },
    epilog="Exit codes: 0 done, 1 refused or failed (nothing changed), 2 usage error, 130 interrupted.\n\n"
    f"\b\nShell completion (bash; zsh_source, fish_source for the others):\n"
    f"  eval \"$({COMPLETE_VAR}=bash_source dispatchdesk)\"",
)
@click.version_option(__version__, "--version", message="dispatchdesk %(version)s")
@click.option("--db", metavar="PATH-or-URL", envvar=ENV_DB, expose_value=False, callback=_remember_db,
              help=f"database file or SQLAlchemy URL (also ${ENV_DB}); "
              "default: depot.db in the user's data directory")
@click.option("--demo", is_flag=True,
              help="open the console on a fresh copy of the demo depot (in a temporary file, or in --db when given)")
@click.option("--listen", type=LISTEN, metavar="HOST:PORT", help="where the console's link endpoint listens")
@click.option("--no-relay", is_flag=True,
              help="do not run the relay inside the console (a `dispatchdesk relay` runs it)")
@click.pass_context
def root(ctx: click.Context, demo: bool, listen: str | None, no_relay: bool) -> int | None:
    """A terminal dispatch console for courier and haulage depots. Without a command it opens
    the console."""
    if ctx.invoked_subcommand is not None:
        return None
    from .console import cmd_console

    # only a --db on the command line takes the demo; $DISPATCHDESK_DB does not (a temporary copy)
    from_env = ctx.get_parameter_source("db") is click.core.ParameterSource.ENVIRONMENT
    db = None if from_env else current_db()
    return cmd_console(db, demo=demo, listen=listen, relay=not no_relay)
