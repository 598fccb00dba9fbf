"""The old home of import and export, kept so that code written against it still works:
export is now ``services.export`` (one module per format), import ``services.importer``."""

from .export import (
    dump_json,
    export_csv,
    export_json,
    export_json_file,
    export_pdf,
    export_xlsx,
    write_json,
)
from .importer import ImportResult, import_json, read_json_file

__all__ = [
    "ImportResult",
    "dump_json",
    "export_csv",
    "export_json",
    "export_json_file",
    "export_pdf",
    "export_xlsx",
    "import_json",
    "read_json_file",
    "write_json",
]
