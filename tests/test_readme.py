"""The README's "Try it" lines work as written after the README's own install: each names the
command the install puts in .venv, and each runs (here through main(), on a temporary file)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from dispatchdesk.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND = ".venv/bin/dispatchdesk"


def _block_after(marker: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    rest = text[text.index(marker):]
    start = rest.index("```\n") + 4
    return [ln for ln in rest[start:rest.index("```", start)].splitlines() if ln.strip()]


def test_the_install_line_puts_the_command_where_the_try_it_lines_call_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert "python3 -m venv .venv && .venv/bin/pip install -e ." in text
    for line in _block_after("Try it on a throw-away database"):
        assert line.startswith(COMMAND + " "), f"not runnable after the README's install: {line}"


def test_the_readme_says_where_the_link_endpoint_listens() -> None:
    text = README.read_text(encoding="utf-8")
    assert "POST /link" in text and "http://HOST:PORT/link" in text


def test_every_try_it_line_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DISPATCHDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISPATCHDESK_DB", raising=False)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # no terminal: a question is answered no
    for line in _block_after("Try it on a throw-away database"):
        argv = [a.replace("/tmp/", f"{tmp_path}/") for a in shlex.split(line)[1:]]
        rc = main(argv)
        out = capsys.readouterr()
        if argv[2:4] == ["order", "trash"]:
            # it asks first; with no terminal to ask on, nothing is done (README: "Changing an order")
            assert rc != 0 and "Nothing was changed" in out.err, line
        else:
            assert rc == 0, f"{line}: {out.err}"
    assert (tmp_path / "orders.pdf").stat().st_size > 0
