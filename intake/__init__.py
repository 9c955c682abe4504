"""Importers by name, so the CLI and later CSV/XLSX uploads pick one without knowing its module.

    from intake import IMPORTERS
    IMPORTERS["cdnow"](path)

Later importers add themselves with register(name, fn), as papermill's engines do.
"""
from .cdnow import load_cdnow

IMPORTERS = {}


def register(name, fn):
    """Make `fn(path=None, owner=None, progress=False) -> counts` available as IMPORTERS[name]."""
    IMPORTERS[name] = fn
    return fn


def get(name):
    try:
        return IMPORTERS[name]
    except KeyError:
        raise KeyError(f"未知的导入类型: {name}（可用: {', '.join(sorted(IMPORTERS))}）") from None


register("cdnow", load_cdnow)

__all__ = ["IMPORTERS", "register", "get", "load_cdnow"]
