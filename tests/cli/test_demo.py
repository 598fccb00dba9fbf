"""The demo depot is built through the services only (issue 7, item 5): the demo's own code
never opens a writing unit of work, so every row in it was written by a service, as a real
depot's would be."""

from __future__ import annotations

import ast
import inspect

import dispatchdesk.demo as demo


def _root(expr: ast.expr) -> str | None:
    """The name a call chain starts with: select(...).where(...).order_by(...) -> "select"."""
    while True:
        if isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Attribute):
            expr = expr.value
        elif isinstance(expr, ast.Name):
            return expr.id
        else:
            return None


def test_the_demo_writes_nothing_itself():
    tree = ast.parse(inspect.getsource(demo))
    writers = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "uow":
            kw = {k.arg: k.value for k in node.keywords}
            if not (isinstance(kw.get("write"), ast.Constant) and kw["write"].value is False):
                writers.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "add", "add_all", "execute", "commit", "flush", "delete", "merge",
        ):
            reads = bool(node.args) and _root(node.args[0]) == "select"
            if not (node.func.attr == "execute" and reads):
                writers.append(node.lineno)
    assert writers == [], f"demo.py writes directly at lines {writers}: go through a service"
