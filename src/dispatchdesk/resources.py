"""Where the stylesheets and the bundled data files are.

The wheel carries the repository's top-level ``styles/`` and ``data/`` inside the package
(pyproject.toml force-includes them as ``dispatchdesk/styles`` and ``dispatchdesk/data``).
A checkout, or an editable install, has them only at the top of the repository, two levels
above this file. The copy inside the package wins when it exists.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir", "styles_dir"]

#: The installed package: ``Path(dispatchdesk.__file__).parent``.
_PACKAGE_DIR = Path(__file__).resolve().parent
#: The top of a checkout: ``<repo>/src/dispatchdesk/resources.py`` -> ``<repo>``.
_CHECKOUT_DIR = Path(__file__).resolve().parents[2]


def _locate(name: str) -> Path:
    candidates = (_PACKAGE_DIR / name, _CHECKOUT_DIR / name)
    for path in candidates:
        if path.is_dir():
            return path
    tried = " or ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"dispatchdesk cannot find its {name!r} directory: looked for {tried}. "
        "Reinstall the package, or run it from a complete checkout."
    )


def styles_dir() -> Path:
    """The directory with the .tcss stylesheets."""
    return _locate("styles")


def data_dir() -> Path:
    """The directory with the bundled data files."""
    return _locate("data")
