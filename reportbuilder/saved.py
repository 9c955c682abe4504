"""Saved reports: list, open, save and delete, in the owner's hands, audited.

Who sees which saved reports: the templates and shared reports (everyone who may use the builder), and one's
own.  Deleting or changing needs `customreport` create/delete and ownership (templates are data an admin
changes in the database, not here).  Every save and delete writes AuditLog (model "customreport").
"""
import datetime
import json

from models import AuditLog, SavedReport, db

from . import policy
from .spec import SpecError, parse

MODEL = policy.POLICY_KEY


def visible(user):
    """The saved reports `user` may open: templates first, then their own and shared ones, by name."""
    query = SavedReport.select().where(SavedReport.template.is_null(False) | (SavedReport.owner == user.id)
                                       | (SavedReport.shared == True))  # noqa: E712
    return sorted(query, key=lambda r: (r.template is None, r.owner_id != user.id, r.name))


def get_visible(report_id, user):
    """The saved report `report_id` if `user` may open it, else None (the same answer for missing)."""
    try:
        report_id = int(report_id)
    except (TypeError, ValueError):
        return None
    return next((r for r in visible(user) if r.id == report_id), None)


def may_use(user, parameters):
    """reporting's check before `user` runs or subscribes to the `custom` report: the saved report must be one
    they may open (a template, their own or a shared one), else a subscription's owner could have another
    person's private report computed and mailed by its number.  The same answer for a missing one."""
    from reporting.registry import ReportError

    if get_visible((parameters or {}).get("report_id"), user) is None:
        raise ReportError("找不到这个自定义报表，或它是别人的私有报表：只能运行或订阅模板、自己的和共享的报表")


def _audit(username, action, report, changes=None, ip=None):
    AuditLog.create(username=username, action=action, model=MODEL, record_id=str(report.id),
                    changes=json.dumps(changes, ensure_ascii=False) if changes else None, ip=ip)


def save(user, grant, name, data, today, shared=False, ip=None):
    """A new saved report of `user` (the spec validated for their grant); SpecError for a bad name or spec."""
    if not policy.may(grant, "create"):
        raise SpecError(["您的角色不能保存自定义报表"])
    name = (name or "").strip()
    problems = []
    if not name:
        problems.append("请填写报表名称")
    elif len(name) > 80:
        problems.append("报表名称最多 80 个字")
    try:
        spec = parse(data, grant, today)
    except SpecError as error:
        problems += error.problems
    if problems:
        raise SpecError(problems)
    with db.atomic():
        if SavedReport.select().where((SavedReport.owner == user.id) & (SavedReport.name == name)).exists():
            raise SpecError([f"您已有名为“{name}”的报表，请换一个名称"])
        report = SavedReport.create(name=name, owner=user.id, spec=json.dumps(spec.as_dict(), ensure_ascii=False),
                                    shared=bool(shared))
        _audit(user.username, "create", report, {"name": name, "spec": spec.as_dict(), "shared": bool(shared)}, ip)
    return report


def delete(user, grant, report, ip=None):
    """Delete `report`, which must be `user`'s own; SpecError otherwise."""
    if not policy.may(grant, "delete"):
        raise SpecError(["您的角色不能删除自定义报表"])
    if report.template is not None or report.owner_id != user.id:
        raise SpecError(["只能删除自己保存的报表"])
    with db.atomic():
        _audit(user.username, "delete", report, {"name": report.name, "spec": report.spec_dict}, ip)
        report.delete_instance()
    return True


def touch(report):
    SavedReport.update(updated_at=datetime.datetime.now()).where(SavedReport.id == report.id).execute()
