"""The layers below the screens never import textual, checked by importing them.

The domain, the store, the services and the link are used by the command line, the relay
and the tests without a terminal; importing textual there would tie them to the screens.
The import-linter contract "Textual only in the console" (tests/test_contracts.py) checks the
import statements; these tests also catch what it cannot see, such as an import made by
name at run time. Each check runs in a fresh interpreter, so that what this test session
already imported does not count.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dispatchdesk

PACKAGE_DIR = Path(dispatchdesk.__file__).resolve().parent
SRC_DIR = PACKAGE_DIR.parent

#: The modules that must stay free of textual.
LOWER_LAYERS = [
    "dispatchdesk.domain",
    "dispatchdesk.store",
    "dispatchdesk.services",
    "dispatchdesk.link",
    "dispatchdesk.text",
    "dispatchdesk.resources",
]

#: Alembic's env.py runs migrations when imported: it is checked statically only.
NOT_IMPORTED = ("dispatchdesk.store.migrations",)

FORBIDDEN = "textual"

_PROBE = """
import importlib, json, pkgutil, sys, traceback
names, walk, skip = json.loads(sys.argv[1])
failed = {}
imported = []
for name in names:
    try:
        module = importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc()
        continue
    imported.append(name)
    if walk and hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, name + "."):
            if info.name.startswith(tuple(skip)):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:
                failed[info.name] = traceback.format_exc()
            else:
                imported.append(info.name)
print(json.dumps({
    "imported": imported,
    "failed": failed,
    "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")),
}))
"""


def _source_path(name: str) -> Path | None:
    """The module's file or package directory in the source tree, or None if there is none."""
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _existing(name: str) -> Path:
    path = _source_path(name)
    assert path is not None, f"{name} is not in the source tree ({PACKAGE_DIR})"
    return path


def _probe(names: list[str], *, walk: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_DIR), env.get("PYTHONPATH", "")) if p)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([names, walk, list(NOT_IMPORTED)])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_clean(report: dict, names: list[str]) -> None:
    failures = "\n".join(f"--- {n}\n{tb}" for n, tb in report["failed"].items())
    assert not report["failed"], f"could not import, so could not check:\n{failures}"
    assert set(names) <= set(report["imported"])
    assert report["textual"] == [], (
        f"importing {', '.join(names)} pulled in textual: {report['textual'][:5]}"
    )


@pytest.mark.parametrize("name", LOWER_LAYERS)
def test_importing_the_layer_does_not_import_textual(name: str) -> None:
    _existing(name)
    _assert_clean(_probe([name], walk=False), [name])


@pytest.mark.parametrize("name", LOWER_LAYERS)
def test_importing_every_submodule_does_not_import_textual(name: str) -> None:
    _existing(name)
    _assert_clean(_probe([name], walk=True), [name])


def test_all_layers_together() -> None:
    names = list(LOWER_LAYERS)
    for name in names:
        _existing(name)
    _assert_clean(_probe(names, walk=False), names)


def _textual_imports(source: str, label: str) -> list[str]:
    """Every `import textual...` / `from textual... import` in a file, also inside functions."""
    found = []
    for node in ast.walk(ast.parse(source, filename=label)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            if module == FORBIDDEN or module.startswith(FORBIDDEN + "."):
                found.append(f"{label}:{node.lineno}: {module}")
    return found


@pytest.mark.parametrize("name", LOWER_LAYERS)
def test_no_textual_import_anywhere_in_the_source(name: str) -> None:
    """Also catches an import hidden inside a function, which the probe would not see."""
    path = _existing(name)
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert files
    found = [
        hit
        for f in files
        for hit in _textual_imports(f.read_text(encoding="utf-8"), str(f.relative_to(SRC_DIR)))
    ]
    assert found == []


def test_the_static_check_would_notice() -> None:
    source = (
        "import os\n"
        "import textualize_other\n"
        "from . import textual\n"
        "def f():\n"
        "    from textual.app import App\n"
        "    import rich, textual\n"
    )
    assert _textual_imports(source, "x.py") == ["x.py:5: textual.app", "x.py:6: textual"]
