"""Bringing data in: the import engine (customers, follow-ups, orders, users from CSV or XLSX) and
the importers by name the CLI knows (IMPORTERS, e.g. the CDNOW sample).

The engine is a library; the CLI (`run.py import`) and the admin's wizard use the same calls:

    import intake
    analysis = intake.analyse(data, "customers", filename="客户.xlsx")    # preview, proposed mapping
    report = intake.validate(data, "customers", filename=..., user=u)    # what an import would do
    report = intake.import_file(data, "customers", filename=..., user=u, skip_invalid=False)
    intake.undo(report.batch_id, user=u)
    intake.template("orders")                                            # XLSX bytes

Kinds are a registry (intake.kinds.KINDS, add one with intake.kinds.register); importers of other
formats add themselves with register(name, fn), as papermill's engines do.
"""
from . import kinds
from .cdnow import load_cdnow
from .columns import MappingError
from .engine import (Analysis, CellError, ImportRefused, Report, UndoRefused, analyse, import_file, template, undo,
                     validate)
from .files import FileRefused, open_table
from .kinds import KINDS

IMPORTERS = {}


def register(name, fn):
    """Make `fn(path=None, owner=None, progress=False) -> counts` available as IMPORTERS[name]."""
    IMPORTERS[name] = fn
    return fn


def get(name):
    try:
        return IMPORTERS[name]
    except KeyError:
        known = sorted(set(IMPORTERS) | set(KINDS))
        raise KeyError(f"未知的导入类型: {name}（可用: {', '.join(known)}）") from None


register("cdnow", load_cdnow)

__all__ = ["IMPORTERS", "KINDS", "register", "get", "load_cdnow", "analyse", "validate", "import_file", "undo",
           "template", "open_table", "Analysis", "Report", "CellError", "ImportRefused", "UndoRefused", "FileRefused",
           "MappingError", "kinds"]
