"""A package's public names imported from their modules when first used (PEP 562), so that a
program that needs one service does not import them all (issue 13: start-up)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, where: Mapping[str, str], namespace: dict[str, Any]
               ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: a name in `where` (name -> relative module) is
    imported from its module on first use and kept in `namespace` (the package's globals); any
    other name is looked for as a submodule."""

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            if name.startswith("_"):
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *where})

    return getattr_, dir_
