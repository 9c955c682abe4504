"""The reports the product can run: name -> notebook, defaults, description.

This table is the one place a report is declared; the CLI (and later the admin's 立即运行
button and scheduled jobs) look names up here, so registering a notebook makes it
runnable everywhere.  Shaped like papermill's engine registry: register(name, ...).
"""
import os
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The parameters the runner sets from the access policy (runner.scope_for), never the caller: whose customers a
# run covers (owner_ids), the smallest group it may show (suppress_below), the customer columns it must mask or
# leave out (column_access) and the role whose column rules decide what it may compute (viewer_role).
SCOPE_PARAMS = ("owner_ids", "suppress_below", "column_access", "viewer_role")
# What a report takes unless its registration says more: row scope, small groups and customer columns.
ROW_AND_COLUMN_SCOPE = ("owner_ids", "suppress_below", "column_access")


class ReportError(ValueError):
    """A report cannot be run as asked (unknown report, bad parameter).  The message is for people."""


@dataclass(frozen=True)
class Report:
    name: str
    notebook: str  # absolute path
    description: str = ""
    defaults: dict = field(default_factory=dict)  # overrides of the notebook's own defaults
    # "module:function" called as function(user, parameters) before `user` starts a run or subscribes; raises
    # ReportError when that user may not use the report with those parameters (a saved custom report that is
    # someone else's private one).  Imported when asked, so the registry imports no capability package.
    may_use: str = ""
    # The scope parameters the notebook must declare in its parameters cell and is given for every run.  A notebook
    # gets only the parameters it declares, so one that lacks any of these would run unscoped: the runner refuses
    # it instead (params.check_scope), before a run is recorded and again before its kernel starts.
    scope: tuple = ROW_AND_COLUMN_SCOPE


_reports = {}


def register(name, notebook, description="", defaults=None, may_use="", scope=ROW_AND_COLUMN_SCOPE):
    """Declare a report; `notebook` is absolute or relative to the project root; `scope`: the SCOPE_PARAMS
    it takes (ValueError for any other name)."""
    unknown = [param for param in scope if param not in SCOPE_PARAMS]
    if unknown:
        raise ValueError(f"scope of report {name}: {unknown} are not scope parameters {SCOPE_PARAMS}")
    path = notebook if os.path.isabs(notebook) else os.path.join(ROOT, notebook)
    report = Report(name=name, notebook=path, description=description, defaults=dict(defaults or {}),
                    may_use=may_use, scope=tuple(scope))
    _reports[name] = report
    return report


def unregister(name):
    _reports.pop(name, None)


def get(name):
    report = _reports.get(name)
    if report is None:
        known = "、".join(sorted(_reports)) or "（无）"
        raise ReportError(f"未知报表 {name}；可用报表：{known}")
    return report


def check_use(report, user, parameters):
    """Raise ReportError if `user` may not run or subscribe to `report` with `parameters` (Report.may_use).
    Asked of the person who starts a run or owns a subscription, not of each recipient: a recipient's run
    is computed in the recipient's own scope."""
    if not report.may_use or user is None:
        return
    import importlib

    module, _, function = report.may_use.partition(":")
    getattr(importlib.import_module(module), function)(user, parameters)


def available():
    return dict(sorted(_reports.items()))


register("segmentation", "notebooks/segmentation.ipynb", "客户分群：按地区、行业、RFM 分层查看客户结构")
register("lifecycle", "notebooks/lifecycle.ipynb", "客户生命周期：新增、活跃、流失与同期群留存")
register("value", "notebooks/value.ipynb", "客户价值：消费金额、CLV 预测与价值分层")
register("custom", "reportbuilder/report.ipynb", "自定义报表：保存的自定义报表（report_id），按每位收件人的范围与权限计算",
         may_use="reportbuilder.saved:may_use", scope=ROW_AND_COLUMN_SCOPE + ("viewer_role",))
