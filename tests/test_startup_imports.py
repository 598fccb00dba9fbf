"""Issue 13: the console's start imports what the board's first draw needs, not every service,
flow and dialog (those come when first used). Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dispatchdesk

SRC_DIR = Path(dispatchdesk.__file__).resolve().parent.parent

#: Not imported by `import dispatchdesk.tui.app` and `Depot` (the bench's and the command's start).
LATER = [
    "dispatchdesk.services.actions",
    "dispatchdesk.services.rules",
    "dispatchdesk.services.importer",
    "dispatchdesk.services.export.csv",
    "dispatchdesk.tui.flows",
    "dispatchdesk.tui.screens.detail",
    "dispatchdesk.tui.screens.confirm",
    "dispatchdesk.tui.commands",
]


def _fresh(code: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_DIR), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_console_starts_without_the_actions_flows_and_dialogs() -> None:
    out = _fresh("import json, sys\n"
                 "from dispatchdesk.services import Depot\n"
                 "from dispatchdesk.tui.app import DeskApp\n"
                 f"print(json.dumps([m for m in {LATER!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_every_public_name_of_the_services_is_there_when_asked_for() -> None:
    out = _fresh("from dispatchdesk import services\n"
                 "import dispatchdesk.services.rules as module\n"  # the submodule, imported first
                 "missing = [n for n in services.__all__ if not hasattr(services, n)]\n"
                 "from dispatchdesk.services import rules\n"
                 "import sys\n"
                 "print(missing, callable(rules) and rules is sys.modules['dispatchdesk.services.rules'].rules,\n"
                 "      services.Trash.__module__, services.queries.__name__)")
    assert out.split() == ["[]", "True", "dispatchdesk.services.actions", "dispatchdesk.services.queries"]
