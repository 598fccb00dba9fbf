"""The architecture as a test: the import contracts and the type checker run with the suite.

``lint-imports`` checks the contracts in pyproject.toml (``[tool.importlinter]``: the layers,
no Textual outside the console, the database only through the services, the demo only from
the command line); ``mypy`` checks the domain, the store and the services (``[tool.mypy]``).
Each runs in a subprocess on this source tree (``src`` first on the path, whatever is
installed), and a failure shows their output.

The last two tests make sure the checks can fail: a copy of the tree with a forbidden import
breaks the contracts, and a function without annotations breaks mypy's configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: lint-imports has no ``python -m`` entry; this is what its console script runs.
LINT_IMPORTS = [
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
    "--no-cache",
]


def _run(args: list[str], *, cwd: Path = ROOT, src: Path = SRC) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    env.pop("MYPYPATH", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_the_import_contracts_hold() -> None:
    result = _run(LINT_IMPORTS)
    assert result.returncode == 0, _output(result)
    assert " 0 broken" in result.stdout, _output(result)
    assert "KEPT" in result.stdout


def test_the_type_checker_passes() -> None:
    result = _run(["-m", "mypy"])
    assert result.returncode == 0, _output(result)
    assert "Success" in result.stdout, _output(result)


def test_the_contracts_notice_a_forbidden_import(tmp_path: Path) -> None:
    """The same contracts on a copy of the tree in which the services import textual and the
    demo, and the console opens the store itself: each is reported."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "src" / "dispatchdesk"
    shutil.copytree(
        SRC / "dispatchdesk", package, ignore=shutil.ignore_patterns("__pycache__", "migrations")
    )
    with (package / "services" / "__init__.py").open("a", encoding="utf-8") as f:
        f.write("\nimport textual  # noqa\nfrom .. import demo  # noqa\n")
    with (package / "tui" / "__init__.py").open("a", encoding="utf-8") as f:
        f.write("\nfrom ..store import models  # noqa\n")
    result = _run(LINT_IMPORTS, cwd=tmp_path, src=tmp_path / "src")
    out = result.stdout
    assert result.returncode == 1, _output(result)
    assert "dispatchdesk.services -> textual" in out, _output(result)
    assert "dispatchdesk.services -> dispatchdesk.demo" in out, _output(result)
    assert "dispatchdesk.tui -> dispatchdesk.store.models" in out, _output(result)
    for contract in (
        "Layers: the front ends over the services over the domain and the store BROKEN",
        "Textual only in the console BROKEN",
        "Only the command line imports the demo BROKEN",
    ):
        assert contract in out, _output(result)


def test_the_type_checker_is_strict(tmp_path: Path) -> None:
    """mypy with the project's configuration refuses an unannotated function and a stale
    ``type: ignore`` (so the configuration is read, and means something)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def untyped(x):\n"
        "    return x\n"
        "\n"
        "n: int = 1  # type: ignore[assignment]\n",
        encoding="utf-8",
    )
    result = _run(
        ["-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", str(bad)],
        cwd=tmp_path,
    )
    assert result.returncode == 1, _output(result)
    assert "[no-untyped-def]" in result.stdout, _output(result)
    assert "[unused-ignore]" in result.stdout, _output(result)
