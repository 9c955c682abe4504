"""What a run's numbers depend on: the code version and a watermark of the data.

Two runs of one report with the same parameters differ only if one of these differs,
so a surprising number can be traced to a deploy or to new data.
"""
import subprocess
from importlib import metadata

from peewee import fn

from .registry import ROOT


def code_version():
    """The git commit (with "-dirty" for uncommitted changes), else the installed package version."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return "crm-platform " + metadata.version("crm-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def data_watermark():
    """Row counts and latest timestamps of customers, orders and follow-ups (whole tables, not scoped)."""
    from models import Customer, FollowUp, Order

    tables = {
        "customers": (Customer, Customer.updated_at),
        "orders": (Order, Order.ordered_at),
        "followups": (FollowUp, FollowUp.at),
    }
    mark = {}
    for name, (model, stamp) in tables.items():
        count, latest = model.select(fn.COUNT(model.id), fn.MAX(stamp)).scalar(as_tuple=True)
        mark[name] = {"count": count, "latest": str(latest) if latest else None}
    return mark
