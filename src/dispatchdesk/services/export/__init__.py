"""Export of a depot's orders, one module per format: JSON (the exchange format, read back
by ``services.importer``), CSV, Excel and PDF; ``common`` holds what they share (the reads,
the flat row, the whole-or-nothing file write)."""

from .common import export_json
from .csv import export_csv
from .json import dump_json, export_json_file, write_json
from .pdf import export_pdf
from .xlsx import export_xlsx

__all__ = [
    "dump_json",
    "export_csv",
    "export_json",
    "export_json_file",
    "export_pdf",
    "export_xlsx",
    "write_json",
]
