"""The ``dispatchdesk`` command: the console, the relay, and scripted set-up, checks and actions.

    dispatchdesk                          open the console on the default database
    dispatchdesk --demo                   open it on a fresh copy of the demo depot
    dispatchdesk relay [--listen H:P]     the relay and link endpoint, no screen
    dispatchdesk init [--demo]            create (and migrate) the database
    dispatchdesk partner add|list|set     partners and their settings (SPEC 6)
    dispatchdesk settings [KEY [VALUE]]   the depot's settings
    dispatchdesk import FILE.json         orders, notices, follow-ups; all or nothing
    dispatchdesk export --format F        json, csv, xlsx or pdf, with filters
    dispatchdesk report                   work done; rejections and cancellations
    dispatchdesk order list|show|send|status|trash|cancel|reject|undo|duplicate|archive|tag …

``--db PATH-or-URL`` works before or after the command; ``DISPATCHDESK_DB`` does the same.
Without either, the database is ``depot.db`` in the user's data directory (platformdirs),
or in ``$DISPATCHDESK_HOME`` when that is set; its directory is created on first use.

Every command that changes an order prints what will happen (the same sentences as the
console's confirm) and asks ``Go ahead? [y/N]``, unless ``--yes``. Exit codes: 0 done,
1 refused or failed (the sentence says why, nothing was changed), 2 a usage error
(including a changing command with no terminal to ask on and no ``--yes``), 130 interrupted.

Nothing heavy is imported at module level: ``--version`` and the scripted commands never
import textual or aiohttp; the console and the relay import them only when started.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__

if TYPE_CHECKING:
    from .services import Depot

__all__ = ["ENV_DB", "ENV_HOME", "database_location", "default_database", "main"]

ENV_DB = "DISPATCHDESK_DB"
ENV_HOME = "DISPATCHDESK_HOME"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ROLES = ("client", "subcontractor", "channel", "warehouse")
CANCEL_METHODS = ("api", "api-window", "email", "manual", "api-window-then-email")
REJECTION_MAPS = ("rejected", "created")
EXPORT_FORMATS = ("json", "csv", "xlsx", "pdf")


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
            from .store import StorageError

            raise StorageError(
                f"Cannot create the data directory {path.parent}: {e.strerror or e}. "
                f"Use --db or set {ENV_DB}."
            ) from None
    return str(path)


def _open(args: argparse.Namespace) -> Depot:
    from .services import Depot

    return Depot.open(database_location(args.db))


# =========================================================================== output


def _clean(value: object, **kw: Any) -> str:
    from .text import clean

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


# =========================================================================== argument types


def _status_arg(text: str) -> Any:
    from .domain import Status

    try:
        return Status.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _reason_arg(text: str) -> Any:
    from .domain import ReasonCode

    try:
        return ReasonCode.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _line_arg(text: str) -> tuple[str, int]:
    article, sep, qty = text.rpartition("=")
    if not sep or not article.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not ARTICLE=QUANTITY (for example BOX-S=2)")
    try:
        n = int(qty)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the quantity in {text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"the quantity in {text!r} must be 1 or more")
    return article.strip(), n


def _listen_arg(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8730)")
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port in {text!r} is not a number") from None
    if not 0 < p < 65536:
        raise argparse.ArgumentTypeError(f"the port in {text!r} must be from 1 to 65535")
    return text


def _window_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--window takes whole seconds, not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("--window cannot be negative")
    return n


# =========================================================================== the parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_clean(message)}\n")


def _partner_flags(p: argparse.ArgumentParser, *, editing: bool) -> None:
    flag: Any = argparse.BooleanOptionalAction if editing else "store_true"
    dflt: dict[str, Any] = {"default": None} if editing else {}
    p.add_argument("--role", choices=ROLES, required=not editing, help="what the partner is to us")
    p.add_argument("--url", help="HTTP link endpoint (needs --secret); '' removes it")
    p.add_argument("--secret", help="shared secret of the HTTP link, at least 16 characters")
    p.add_argument("--email", metavar="ADDR", help="e-mail address for notices; '' removes it")
    p.add_argument("--auto-trash", action=flag, **dflt,
                   help="orders this partner revokes are cancelled here automatically (SPEC 4.2)")
    p.add_argument("--rejection-maps-to", choices=REJECTION_MAPS,
                   help="what this partner's rejection does to our order (default rejected)")
    p.add_argument("--cancel-method", choices=CANCEL_METHODS,
                   help="how cancellations reach it: api, api-window (needs --window), email, manual")
    p.add_argument("--window", type=_window_arg, metavar="SECONDS",
                   help="the api-window: seconds after dispatch in which a cancellation is sent")
    p.add_argument("--reason-required", action=flag, **dflt, help="every cancellation needs a reason code")
    p.add_argument("--follow-up", action=flag, **dflt,
                   help="a follow-up after every cancellation or rejection sent, to check on it")
    p.add_argument("--pass-cancellations", action=flag, **dflt,
                   help="pass warehouse cancellations on to this channel (SPEC 4.4)")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH-or-URL", default=argparse.SUPPRESS,
                        help=f"database file or SQLAlchemy URL (also ${ENV_DB})")
    ask = argparse.ArgumentParser(add_help=False)
    ask.add_argument("-y", "--yes", action="store_true", help="do it without asking")

    parser = _Parser(
        prog="dispatchdesk",
        description="A terminal dispatch console for courier and haulage depots. "
        "Without a command it opens the console.",
        epilog="Exit codes: 0 done, 1 refused or failed (nothing changed), 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"dispatchdesk {__version__}")
    parser.add_argument("--db", metavar="PATH-or-URL", default=None,
                        help=f"database file or SQLAlchemy URL (also ${ENV_DB}); "
                        "default: depot.db in the user's data directory")
    parser.add_argument("--demo", action="store_true",
                        help="open the console on a fresh copy of the demo depot "
                        "(in a temporary file, or in --db when given)")
    parser.add_argument("--listen", type=_listen_arg, metavar="HOST:PORT",
                        help="where the console's link endpoint listens")
    parser.add_argument("--no-relay", action="store_true",
                        help="do not run the relay inside the console (a `dispatchdesk relay` runs it)")
    parser.set_defaults(func=cmd_console)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("init", parents=[common], help="create or upgrade the database",
                       description="Create the database (or bring its schema up to date).")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--demo", action="store_true", help="fill it with the demo depot (it must have no orders)")
    g.add_argument("--demo-partners", action="store_true",
                   help="add only the demo partners (to import data/demo.json or data/sample-import.json)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("relay", parents=[common], help="run the relay and link endpoint, no screen",
                       description="Deliver notices and receive partners' messages until stopped (Ctrl-C).")
    p.add_argument("--listen", type=_listen_arg, metavar="HOST:PORT", default=None,
                   help="where the link endpoint listens")
    p.set_defaults(func=cmd_relay)

    # partners ---------------------------------------------------------------
    p = sub.add_parser("partner", parents=[common], help="add, list and change partners")
    psub = p.add_subparsers(title="partner commands", metavar="ACTION", parser_class=_Parser, required=True)
    q = psub.add_parser("add", parents=[common], help="add a partner",
                        description="Add a partner. Its link is HTTP with --url and --secret, "
                        "e-mail with --email, else none (every notice becomes a follow-up).")
    q.add_argument("name", metavar="NAME")
    _partner_flags(q, editing=False)
    q.set_defaults(func=cmd_partner_add)
    q = psub.add_parser("list", parents=[common], help="list the partners (secrets are never shown)")
    q.set_defaults(func=cmd_partner_list)
    q = psub.add_parser("set", parents=[common], help="change a partner's settings",
                        description="Change only the settings given; --no-FLAG switches a flag off.")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--rename", metavar="NEW_NAME", help="give the partner a new name")
    _partner_flags(q, editing=True)
    q.set_defaults(func=cmd_partner_set)

    # settings, import, export, report --------------------------------------
    p = sub.add_parser("settings", parents=[common], help="show or change the depot's settings",
                       description="Without arguments, every setting; with KEY, one; with KEY VALUE, change it.")
    p.add_argument("key", nargs="?", metavar="KEY")
    p.add_argument("value", nargs="?", metavar="VALUE")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("import", parents=[common], help="import orders from a JSON file (all or nothing)",
                       description="Import the export's JSON shape. Every record is checked first; "
                       "if any is wrong, each problem is named and nothing is written.")
    p.add_argument("file", metavar="FILE.json")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", parents=[common], help="export orders as JSON, CSV, Excel or PDF",
                       description="Export orders, Rejected and Cancelled included. JSON and CSV go to "
                       "standard output without -o; Excel and PDF go to a file.")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="json")
    p.add_argument("--status", type=_status_arg, help="only orders in this status")
    p.add_argument("--partner", metavar="NAME", help="only orders from or with this partner")
    p.add_argument("--archived", action=argparse.BooleanOptionalAction, default=None,
                   help="--archived: only archived orders; --no-archived: leave them out (default: all)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (written whole, or not at all)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", parents=[common], help="work done; rejections and cancellations per partner",
                       description="Counts of work done leave Rejected and Cancelled out; the rejections "
                       "and cancellations are counted apart, per partner and reason (SPEC 8).")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_report)

    # orders -----------------------------------------------------------------
    p = sub.add_parser("order", parents=[common], help="look at orders and act on them")
    osub = p.add_subparsers(title="order commands", metavar="ACTION", parser_class=_Parser, required=True)
    q = osub.add_parser("list", parents=[common], help="list orders")
    q.add_argument("--status", type=_status_arg, action="append", help="only this status (repeatable)")
    q.add_argument("--search", metavar="TEXT", default="", help="number, partner, address or reference")
    q.add_argument("--archived", action="store_true", help="list archived orders instead")
    q.add_argument("--limit", type=int, default=None, metavar="N", help="at most N orders")
    q.set_defaults(func=cmd_order_list)
    q = osub.add_parser("show", parents=[common], help="everything about one order")
    q.add_argument("number", metavar="NUMBER")
    q.set_defaults(func=cmd_order_show)

    def order_cmd(name: str, help_: str, func: Callable[..., int], description: str = "") -> argparse.ArgumentParser:
        c = osub.add_parser(name, parents=[common, ask], help=help_, description=description or None)
        c.add_argument("number", metavar="NUMBER")
        c.set_defaults(func=func)
        return c

    q = order_cmd("send", "send to a subcontractor or forward to a warehouse (Created → Dispatched)", cmd_order_send)
    q.add_argument("--partner", required=True, metavar="NAME")
    q = order_cmd("status", "set the status (Created = cancel the sent shipment; Rejected tells nobody)",
                  cmd_order_status)
    q.add_argument("status", type=_status_arg, metavar="STATUS",
                   help="created, dispatched, accepted, picked_up, delivered, rejected, cancelled")
    q.add_argument("--partner", metavar="NAME", help="with status dispatched: who to send it to")
    order_cmd("trash", "reject the order and tell every partner it concerns", cmd_order_trash)
    q = order_cmd("cancel", "create a cancellation (all lines, or some with --line)", cmd_order_cancel,
                  "Create a cancellation (SPEC 4.4). Without --line every open quantity is cancelled.")
    q.add_argument("--reason", type=_reason_arg, metavar="CODE",
                   help="NOT_IN_STOCK, DAMAGED, INCOMPLETE, CLIENT_CANCELLED, INVALID_ADDRESS, OTHER")
    q.add_argument("--comment", default="", help="goes to the partner (OTHER needs one)")
    q.add_argument("--note", default="", help="internal note: never leaves the depot")
    q.add_argument("--number", dest="cancellation_number", default="", metavar="CN",
                   help="the cancellation number (default: a fresh one)")
    q.add_argument("--line", type=_line_arg, action="append", default=[], metavar="ARTICLE=QTY",
                   help="cancel only this quantity of this article (repeatable)")
    q = order_cmd("reject", "reject with the checks of order reception (SPEC 4.5)", cmd_order_reject)
    q.add_argument("--notify-buyer", action="store_true", help="tell the partner it came from")
    q.add_argument("--message", default="", help="with --notify-buyer: the message that goes with it")
    order_cmd("undo", "undo the last action while its undo window is open", cmd_order_undo)
    order_cmd("duplicate", "copy as a new order with a new number (it records what it replaces)",
              cmd_order_duplicate)
    q = order_cmd("archive", "archive the order (or bring it back with --restore)", cmd_order_archive)
    q.add_argument("--restore", action="store_true", help="take it out of the archive")
    q = order_cmd("tag", "add and remove tags", cmd_order_tag)
    q.add_argument("--add", action="append", default=[], metavar="TAG")
    q.add_argument("--remove", action="append", default=[], metavar="TAG")
    q = order_cmd("refuse-request", "refuse a partner's cancellation request, saying why", cmd_order_refuse_request)
    q.add_argument("--message", required=True, help="why (for example: already picked up; handled as a return)")
    return parser


# =========================================================================== main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    if getattr(args, "db", None) is None:
        args.db = None
    try:
        return args.func(args)
    except _Exit as e:
        return e.code
    except KeyboardInterrupt:
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
        from .services import ERRORS

        if isinstance(e, ERRORS):
            _report_error(e)
            return EXIT_REFUSED
        raise


def _report_error(e: BaseException) -> None:
    reasons = getattr(e, "reasons", None)
    if reasons and len(reasons) > 1:
        for r in reasons:
            err(r)
    else:
        err(str(e))


def _confirm(args: argparse.Namespace, lines: Sequence[str]) -> None:
    """Print what will happen; go on if --yes or the dispatcher says y; else stop."""
    for line in lines:
        out(line)
    if getattr(args, "yes", False):
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


# =========================================================================== console and relay


def cmd_console(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from .services import Depot

    tmpdir: str | None = None
    if args.demo and not args.db:
        tmpdir = tempfile.mkdtemp(prefix="dispatchdesk-demo-")
        location = str(Path(tmpdir) / "demo.db")
    else:
        location = database_location(args.db)
    try:
        depot = Depot.open(location)
        try:
            if args.demo:
                from .demo import build_demo

                err(f"Building the demo depot in {location} …")
                build_demo(depot)
            try:
                from .tui.app import run
            except ModuleNotFoundError as e:
                if e.name and (e.name == "dispatchdesk.tui" or e.name.startswith("dispatchdesk.tui.")):
                    err("The console (dispatchdesk.tui) is not part of this installation; "
                        "the other commands work: see dispatchdesk --help.")
                    return EXIT_REFUSED
                raise
            with _exit_on_hangup():
                run(depot, demo=args.demo, listen=args.listen, relay=not args.no_relay)
        finally:
            depot.close()
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return EXIT_OK


@contextmanager
def _exit_on_hangup() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed SSH session) end the console through SystemExit, so that
    every ``finally`` runs: the database is closed and a temporary demo copy is removed."""
    import signal

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, stop)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_relay(args: argparse.Namespace) -> int:
    depot = _open(args)
    try:
        try:
            from .link.relay import run_relay
        except ModuleNotFoundError as e:
            if e.name and (e.name == "dispatchdesk.link.relay" or e.name.startswith("dispatchdesk.link")):
                err("The relay (dispatchdesk.link.relay) is not part of this installation.")
                return EXIT_REFUSED
            raise
        run_relay(depot, args.listen)
    finally:
        depot.close()
    return EXIT_OK


# =========================================================================== init, settings


def cmd_init(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from .store.models import Order, Partner

    depot = _open(args)
    try:
        if args.demo:
            from .demo import build_demo

            build_demo(depot)
        elif args.demo_partners:
            from .demo import add_demo_partners

            add_demo_partners(depot)
        with depot.uow(write=False) as uow:
            orders = uow.session.scalar(select(func.count()).select_from(Order)) or 0
            partners = uow.session.scalar(select(func.count()).select_from(Partner)) or 0
        out(f"The database {depot.db.where} is ready: {partners} partners, {orders} orders.")
    finally:
        depot.close()
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    from .services import SETTINGS, InvalidInput, set_setting
    from .services.core import DEFAULT_UNDO_SECONDS

    defaults = {"undo_seconds": str(DEFAULT_UNDO_SECONDS)}
    if args.key is not None and args.key not in SETTINGS:
        raise InvalidInput(f"Unknown setting {args.key!r}; the settings are: {', '.join(SETTINGS)}.")
    depot = _open(args)
    try:
        if args.key is not None and args.value is not None:
            set_setting(depot, args.key, args.value)
            out(f"{args.key} = {args.value}")
            return EXIT_OK
        keys = [args.key] if args.key else list(SETTINGS)
        width = max(len(k) for k in keys)
        for key in keys:
            value = depot.setting(key)
            shown = value if value is not None else (f"{defaults[key]} (default)" if key in defaults else "(not set)")
            out(f"{key.ljust(width)}  {_cell(shown)}  — {SETTINGS[key][0]}")
    finally:
        depot.close()
    return EXIT_OK


# =========================================================================== partners


def _partner_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, as PartnerInput fields."""
    v: dict[str, Any] = {}
    for arg, fld in (("role", "role"), ("url", "url"), ("secret", "secret"), ("email", "email"),
                     ("auto_trash", "auto_trash"), ("rejection_maps_to", "rejection_maps_to"),
                     ("cancel_method", "cancel_method"), ("window", "window_seconds"),
                     ("reason_required", "reason_required"), ("follow_up", "follow_up_after_send"),
                     ("pass_cancellations", "pass_cancellations")):
        value = getattr(args, arg, None)
        if value is not None:
            v[fld] = value
    return v


def cmd_partner_add(args: argparse.Namespace) -> int:
    from .services import PartnerInput, add_partner

    values = _partner_values(args)
    depot = _open(args)
    try:
        name = add_partner(depot, PartnerInput(name=args.name, **values))
    finally:
        depot.close()
    out(f"Partner {name} added.")
    return EXIT_OK


def cmd_partner_set(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .services import partner_input, update_partner

    values = _partner_values(args)
    if args.rename is not None:
        values["name"] = args.rename
    depot = _open(args)
    try:
        current = partner_input(depot, args.name)
        if (values.get("cancel_method") not in (None, "api-window", "api-window-then-email")
                and "window_seconds" not in values):
            values["window_seconds"] = 0
        name = update_partner(depot, current.name, replace(current, **values))
    finally:
        depot.close()
    out(f"Partner {name} changed.")
    return EXIT_OK


def cmd_partner_list(args: argparse.Namespace) -> int:
    from .services import queries

    depot = _open(args)
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
        if p.link_stopped:
            settings.append("LINK STOPPED")
        out(f"{_cell(p.name)}  ({p.role})  {_cell(link)}")
        out(f"    {'; '.join(settings)}; notices waiting {p.waiting}, failed {p.failed}")
        if p.last_error:
            out(f"    last error {_when(p.last_error_at)}: {_cell(p.last_error, 200)}")
    return EXIT_OK


# =========================================================================== import, export, report


def cmd_import(args: argparse.Namespace) -> int:
    from .services.io import import_json

    depot = _open(args)
    try:
        result = import_json(depot, args.file)
    finally:
        depot.close()
    out(result.summary())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .services import io

    filters = {"status": args.status, "partner": args.partner, "archived": args.archived}
    depot = _open(args)
    try:
        if args.format == "json" and args.output:
            n = io.export_json_file(depot, args.output, **filters)
        elif args.format == "json" and not sys.stdout.isatty():
            n = io.export_json_file(depot, sys.stdout, **filters)
        elif args.format == "json":
            data = io.export_json(depot, **filters)
            io.write_json(data, sys.stdout)
            n = len(data["orders"])
        elif args.format == "csv":
            n = io.export_csv(depot, args.output or sys.stdout, **filters)
        else:
            path = args.output or f"orders-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{args.format}"
            fn = io.export_xlsx if args.format == "xlsx" else io.export_pdf
            n = fn(depot, path, **filters)
            args.output = path
    finally:
        depot.close()
    if args.output:
        out(f"Wrote {n} order{'s' if n != 1 else ''} to {args.output}.")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .services import queries

    depot = _open(args)
    try:
        rep = queries.report(depot)
    finally:
        depot.close()
    if args.json:
        import json

        json.dump(rep, sys.stdout, ensure_ascii=True, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    from .domain import WORKING

    work: dict[str, int] = rep["work"]  # type: ignore[assignment]
    out("Work (Rejected and Cancelled left out):")
    for st in WORKING:
        out(f"  {st.label:<11} {work.get(st.label, 0):>7}")
    out(f"  {'Total':<11} {sum(work.values()):>7}")
    out("")
    rows: list[dict[str, Any]] = rep["rejections_and_cancellations"]  # type: ignore[assignment]
    out("Rejections and cancellations per partner and reason:")
    if not rows:
        out("  none")
    for r in sorted(rows, key=lambda r: (r["status"], r["partner"], r["reason"])):
        out(f"  {r['status']:<10} {_col(r['partner'], 32)} {_col(r['reason'], 17)} {r['orders']:>6}")
    return EXIT_OK


# =========================================================================== orders: reading

_MARK_WORDS = {
    "cancellation requested": "cancel requested",
    "notice waiting": "notice waiting",
    "partner acknowledged": "acknowledged",
    "notice failed": "NOTICE FAILED",
    "partner not informed": "not informed",
    "follow-up open": "follow-up",
    "cancellation refused": "cancel refused",
}


def cmd_order_list(args: argparse.Namespace) -> int:
    from .domain import ALL_STATUSES
    from .services import queries

    flt = queries.BoardFilter(text=args.search, archived=args.archived,
                              statuses=tuple(args.status) if args.status else ALL_STATUSES)
    depot = _open(args)
    try:
        cards = queries.board(depot, flt, limit=args.limit)
        now = depot.now()
    finally:
        depot.close()
    order = {s: i for i, s in enumerate(ALL_STATUSES)}
    cards.sort(key=lambda c: (order[c.status], c.status_changed_at))
    if not cards:
        out("No orders match.")
        return EXIT_OK
    out(f"{'NUMBER':<12} {'STATUS':<10} {'DIR':<8} {'PARTNER':<24} {'ROUTE':<28} {'AGE':>6}  MARKS")
    for c in cards:
        marks = ", ".join(sorted(_MARK_WORDS.get(m.value, m.value) for m in c.marks))
        out(f"{_col(c.number, 12)} {c.status.label:<10} {c.direction.value:<8} {_col(c.partner or '(own)', 24)} "
            f"{_col(c.route, 28)} {_age(now, c.status_changed_at):>6}  {marks}")
    out(f"{len(cards)} order{'s' if len(cards) != 1 else ''}.")
    return EXIT_OK


def cmd_order_show(args: argparse.Namespace) -> int:
    from .services import queries

    depot = _open(args)
    try:
        o = queries.order_detail(depot, args.number)
        undo_s = depot.undo_seconds()
        now = depot.now()
    finally:
        depot.close()
    _print_detail(o, now, undo_s)
    return EXIT_OK


def _print_detail(o: Any, now: datetime, undo_s: int) -> None:
    from .domain import Status

    out(f"Order {_cell(o.number)} · {o.status.label} · {o.direction.value}"
        + (" · ARCHIVED" if o.archived else "") + f" · version {o.version}")
    if o.source:
        out(f"  From:        {_cell(o.source)}" + (f" (their order {_cell(o.partner_ref)})" if o.partner_ref else ""))
    if o.assignee:
        out(f"  With:        {_cell(o.assignee)}")
    if o.partner_status:
        out(f"  They report: {Status(o.partner_status).label} at {_when(o.partner_status_at)}")
    out(f"  Pickup:      {_cell(o.pickup_address)}" + (f" (after {_when(o.pickup_after)})" if o.pickup_after else ""))
    out(f"  Delivery:    {_cell(o.delivery_address)}" + (f" (by {_when(o.deliver_by)})" if o.deliver_by else ""))
    out(f"  Goods:       {o.parcels} parcel{'s' if o.parcels != 1 else ''}, {o.weight_kg:g} kg")
    out(f"  Created:     {_when(o.created_at)} ({_age(now, o.created_at)} ago)")
    if o.tags:
        out(f"  Tags:        {', '.join(_cell(t) for t in o.tags)}")
    if o.replaces:
        out(f"  Replaces:    {_cell(o.replaces)}")
    marks = []
    if o.cancellation_requested:
        req = o.cancellation_request or {}
        what = f" by {_cell(req.get('from'))}" if req.get("from") else ""
        msg = f": {_cell(req.get('message'), 120)}" if req.get("message") else ""
        marks.append(f"cancellation requested{what}{msg}")
    if o.partner_not_informed:
        marks.append("partner not informed")
    if o.cancellation_refused:
        marks.append(f"cancellation refused: {_cell(o.cancellation_refused, 160)}")
    for m in marks:
        out(f"  Mark:        {m}")
    if o.undo_until is not None and o.undo_until > now:
        out(f"  Undo:        possible until {o.undo_until.astimezone().strftime('%H:%M:%S')} "
            f"(dispatchdesk order undo {o.number})")
    out("Lines:")
    if not o.lines:
        out("  none")
    for ln in o.lines:
        extra = f", {ln.cancelled} cancelled" if ln.cancelled else ""
        out(f"  {ln.quantity:>4} × {_col(ln.article, 20)} {_cell(ln.description, 60)}{extra}")
    if o.documents:
        out("Documents: " + "; ".join(f"{k.replace('_', ' ')} {_cell(n)}" for k, n in o.documents))
    if o.backorders:
        out("Back-ordered: " + "; ".join(f"{q} × {_cell(a)}" for a, q in o.backorders))
    if o.cancellations:
        out("Cancellations:")
        for c in o.cancellations:
            lines = ", ".join(f"{q} × {_cell(a)}" for a, q in c.lines.items())
            out(f"  {_cell(c.number)} {c.reason or 'no reason'} ({c.state}{', partial' if c.partial else ''}) "
                f"{lines}" + (f" — {_cell(c.comment, 100)}" if c.comment else ""))
            if c.internal_note:
                out(f"    internal note: {_cell(c.internal_note, 200)}")
            if c.answer:
                out(f"    answer: {_cell(c.answer, 200)}")
    if o.notices:
        out("Notices:")
        for n in o.notices:
            kind = n.kind.split(".")[-1].replace("_", " ")
            info = f"{n.state.value}"
            if n.attempts:
                info += f", {n.attempts} attempt{'s' if n.attempts != 1 else ''}"
            if n.outcome:
                info += f", {n.outcome}"
            out(f"  {kind:<22} to {_col(n.partner, 28)} by {n.transport:<6} {info}")
            if n.last_error:
                out(f"    last error: {_cell(n.last_error, 200)}")
            if n.answer:
                out(f"    answer: {_cell(n.answer, 200)}")
    if o.followups:
        out("Follow-ups:")
        for f in o.followups:
            state = f"done by {_cell(f.done_by)} {_when(f.done_at)}" if f.done_at else "OPEN"
            out(f"  [{state}] {_cell(f.text, 200)}")
    out("History:")
    for a in o.audit:
        move = ""
        if a.from_status and a.to_status and a.from_status != a.to_status:
            move = f" {Status(a.from_status).label} → {Status(a.to_status).label}"
        undone = " (undone)" if a.undone else ""
        out(f"  {_when(a.at)}  {_col(a.actor, 20)}  {a.action}{move}{undone}")
        if a.detail:
            out(f"      {_cell(a.detail, 300)}")
    allowed = [s.label for s, why in o.moves.items() if why is None]
    out("Can move to: " + (", ".join(allowed) if allowed else "nothing (final)"))


# =========================================================================== orders: acting


def _do(
    args: argparse.Namespace,
    action: str,
    run: Callable[..., Any],
    *,
    preview_kw: dict[str, Any] | None = None,
    hint: str = "",
) -> int:
    """Preview, confirm, act with the previewed version, print the result."""
    from .services import preview

    depot = _open(args)
    try:
        pv = preview(depot, args.number, action, **(preview_kw or {}))
        if not pv.allowed:
            for r in pv.plan.refusals:
                err(r)
            if hint:
                err(hint)
            return EXIT_REFUSED
        _confirm(args, pv.lines)
        result = run(depot, expected_version=pv.version)
        _print_result(result)
    finally:
        depot.close()
    return EXIT_OK


def _print_result(result: Any) -> None:
    out(result.message)
    if getattr(result, "undo_until", None) is not None:
        out(f"It can be undone until {result.undo_until.astimezone().strftime('%H:%M:%S')}: "
            f"dispatchdesk order undo {result.order}")


def cmd_order_send(args: argparse.Namespace) -> int:
    from .services import dispatch

    return _do(args, "dispatch", lambda d, **kw: dispatch(d, args.number, args.partner, **kw),
               preview_kw={"partner": args.partner})


def cmd_order_status(args: argparse.Namespace) -> int:
    from .domain import Status
    from .services import set_status

    hint = ""
    if args.status is Status.DISPATCHED and not args.partner:
        hint = f"Name the partner: dispatchdesk order send {args.number} --partner NAME"
    elif args.status is Status.CANCELLED:
        hint = f"Use: dispatchdesk order cancel {args.number} --reason CODE"
    kw: dict[str, Any] = {"status": args.status}
    if args.partner:
        kw["partner"] = args.partner
    return _do(args, "set_status",
               lambda d, **k: set_status(d, args.number, args.status, partner=args.partner, **k),
               preview_kw=kw, hint=hint)


def cmd_order_trash(args: argparse.Namespace) -> int:
    from .services import trash

    return _do(args, "trash", lambda d, **kw: trash(d, args.number, **kw))


def cmd_order_cancel(args: argparse.Namespace) -> int:
    from .domain import CancellationRequest
    from .services import cancel

    lines: dict[str, int] = {}
    for article, qty in args.line:
        if article in lines:
            raise _usage(f"--line {article}= is given twice.")
        lines[article] = qty
    req = CancellationRequest(args.reason, comment=args.comment, internal_note=args.note,
                              number=args.cancellation_number, lines=lines)
    return _do(args, "cancel", lambda d, **kw: cancel(d, args.number, req, **kw), preview_kw={"request": req})


def cmd_order_reject(args: argparse.Namespace) -> int:
    from .services import reject

    if args.message and not args.notify_buyer:
        raise _usage("--message goes with --notify-buyer (the message is sent to the buyer).")
    return _do(args, "reject",
               lambda d, **kw: reject(d, args.number, notify_buyer=args.notify_buyer, message=args.message, **kw),
               preview_kw={"notify_buyer": args.notify_buyer})


def cmd_order_archive(args: argparse.Namespace) -> int:
    from .services import archive

    archived = not args.restore
    return _do(args, "archive", lambda d, **kw: archive(d, args.number, archived, **kw),
               preview_kw={"archived": archived})


def cmd_order_refuse_request(args: argparse.Namespace) -> int:
    from .services import refuse_cancel_request

    return _do(args, "refuse_cancel_request",
               lambda d, **kw: refuse_cancel_request(d, args.number, args.message, **kw))


def cmd_order_undo(args: argparse.Namespace) -> int:
    from .domain import Status
    from .services import queries, undo

    depot = _open(args)
    try:
        o = queries.order_detail(depot, args.number)
        if o.undo_until is not None:
            last = next((a for a in reversed(o.audit) if a.action != "undo"), None)
            lines = []
            if last is not None:
                frm = Status(last.from_status).label if last.from_status else "?"
                lines.append(f"Undo {last.action} on order {o.number} (by {last.actor} at "
                             f"{last.at.astimezone().strftime('%H:%M:%S')}): it goes back to {frm}.")
            lines.append("Its notices still held are withdrawn: nothing is sent. The history keeps both.")
            _confirm(args, lines)
        # with no undo window open, undo() refuses with the sentence that says why
        result = undo(depot, args.number)
        out(result.message)
    finally:
        depot.close()
    return EXIT_OK


def cmd_order_duplicate(args: argparse.Namespace) -> int:
    from .services import duplicate, queries

    depot = _open(args)
    try:
        o = queries.order_detail(depot, args.number)
        _confirm(args, [
            f"Order {o.number} is copied as a new order (Created) with a new number; "
            f"the copy records that it replaces {o.number}.",
            f"Order {o.number} itself stays {o.status.label}. Nobody outside the depot will be told.",
        ])
        result = duplicate(depot, args.number)
        out(result.message)
    finally:
        depot.close()
    return EXIT_OK


def cmd_order_tag(args: argparse.Namespace) -> int:
    from .services import queries, set_tags

    if not args.add and not args.remove:
        raise _usage("Give --add TAG or --remove TAG (or both).")
    depot = _open(args)
    try:
        o = queries.order_detail(depot, args.number)
        lines = [f"Order {o.number}:"
                 + (f" tags added: {', '.join(args.add)}." if args.add else "")
                 + (f" tags removed: {', '.join(args.remove)}." if args.remove else ""),
                 "Nobody outside the depot will be told."]
        _confirm(args, lines)
        set_tags(depot, args.number, add=args.add, remove=args.remove, expected_version=o.version)
        after = queries.order_detail(depot, args.number)
        out(f"Order {after.number} tags: {', '.join(after.tags) or 'none'}.")
    finally:
        depot.close()
    return EXIT_OK


def _usage(message: str) -> _Exit:
    err(f"dispatchdesk: error: {message}")
    return _Exit(EXIT_USAGE)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
