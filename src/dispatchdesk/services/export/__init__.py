"""Export of a depot's orders, one module per format: JSON (the exchange format, read back
by ``services.importer``), CSV, Excel and PDF; ``common`` holds what they share (the reads,
the flat row, the whole-or-nothing file write).

Each name is imported when first used (PEP 562 `__getattr__`): the console's board needs
only ``choice.ExportChoice`` to start, not every format's writer (issue 13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .common import export_json
    from .csv import export_csv
    from .json import dump_json, export_json_file, write_json
    from .pdf import export_pdf
    from .xlsx import export_xlsx

#: Where each public name lives.
_WHERE: dict[str, str] = {
    "dump_json": ".json",
    "export_csv": ".csv",
    "export_json": ".common",
    "export_json_file": ".json",
    "export_pdf": ".pdf",
    "export_xlsx": ".xlsx",
    "write_json": ".json",
}

__all__ = [
    "dump_json",
    "export_csv",
    "export_json",
    "export_json_file",
    "export_pdf",
    "export_xlsx",
    "write_json",
]

if not TYPE_CHECKING:  # mypy reads the imports above
    __getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
