"""Erase (anonymise) one customer for good: what can name or reach the person goes, the orders stay.

In one transaction:
- the customer row: 客户名称 becomes 已匿名化客户 + code; contact, mobile, phone, e-mail, address, needs, notes,
  ID number and bank card (and their search digests, so a lookup by the old number finds nothing) are emptied;
  anonymised_at is set.  The code, type, industry, region, source, owner, status, first contact, size and
  revenue stay: they name nobody and the reports group by them;
- free text that can name the person: follow-ups' 内容, feedback's 内容, status changes' 原因 and tasks'
  完成说明 become a neutral placeholder; follow-ups' 下次跟进时间 is cleared (nobody is to call);
- manual tags go (staff's judgements about the person); rule tags stay, earned by the orders that stay, so the
  rule-tag counts of the dashboard do not move; open tasks close (客户已匿名化);
- the orders stay untouched with their amounts, dates, products and channels, linked to the anonymised customer,
  so the dashboard, the value table, RFM and every report add up as before;
- the records that keep old values for undo or display are scrubbed too (history.py): import-undo records, merge
  records, the stored duplicate-scan groups and the import wizard's kept reports, or the erase would be a lie;
- one audit entry `personal-data-erase` that names the code and what was erased, never a value.  Older audit
  entries are not changed: the audit log is append-only (docs/privacy.md says why and what that means).

Not undoable: nothing keeps the old values.
"""
import datetime
import json

from models import AuditLog, Customer, CustomerTag, Feedback, FollowUp, StatusChange, Task, db

from . import history
from .policy import PrivacyError, find_customer, grant_of, may_erase
from .sections import audit_entries

PLACEHOLDER_TEXT = "（已匿名化）"
ERASED_COLUMNS = ("name", "contact", "mobile", "phone", "email", "address", "needs", "notes", "id_number",
                  "bank_account")
NOT_ALLOWED = "您的角色没有匿名化客户个人数据的权限"


def anonymous_name(code):
    return f"已匿名化客户 {code}"


def erased_values(code):
    """{column: value} an anonymised customer holds in the erased columns (digests emptied with them)."""
    values = {name: None for name in ERASED_COLUMNS}
    values["name"] = anonymous_name(code)
    values["id_number_digest"] = values["bank_account_digest"] = None
    return values


def erase(code, user=None, confirm=None, ip=None, now=None):
    """Anonymise customer `code`; returns {what: rows changed}.  `confirm` must repeat the code (the details
    page asks the user to type it).  PrivacyError without the permission, out of scope, unconfirmed, or when the
    customer was anonymised already; nothing is written then."""
    grant = grant_of(user)
    if not may_erase(grant):
        raise PrivacyError(NOT_ALLOWED)
    code = (code or "").strip()
    if (confirm or "").strip() != code or not code:
        raise PrivacyError(f"请输入客户编号 {code} 以确认匿名化；匿名化不能撤销")
    now = now or datetime.datetime.now()
    username = getattr(user, "username", None) or "cli"
    with db.atomic():
        customer = find_customer(code, user, grant)
        if customer.anonymised_at is not None:
            raise PrivacyError(f"客户 {code} 已于 {customer.anonymised_at:%Y-%m-%d %H:%M} 匿名化")
        cid = customer.id
        older_entries = audit_entries(customer).count()
        counts = {}
        counts["customer"] = Customer.update(**erased_values(code), anonymised_at=now, updated_at=now).where(
            Customer.id == cid).execute()
        counts["followup"] = FollowUp.update(content=PLACEHOLDER_TEXT, next_date=None).where(
            FollowUp.customer == cid).execute()
        counts["feedback"] = Feedback.update(content=PLACEHOLDER_TEXT).where(
            (Feedback.customer == cid) & Feedback.content.is_null(False)).execute()
        counts["statuschange"] = StatusChange.update(reason=PLACEHOLDER_TEXT).where(
            StatusChange.customer == cid).execute()
        counts["tags_removed"] = CustomerTag.delete().where(
            (CustomerTag.customer == cid) & (CustomerTag.source == "manual")).execute()
        counts["tasks_closed"] = Task.update(status="done", open_key=None, closed_at=now,
                                             closed_reason="anonymised").where(
            (Task.customer == cid) & (Task.status == "open")).execute()
        Task.update(closed_note=PLACEHOLDER_TEXT).where((Task.customer == cid) & Task.closed_note.is_null(False)).execute()
        counts.update(history.scrub(customer, erased_values, now))
        AuditLog.create(at=now, username=username, action="personal-data-erase", model="customer",
                        record_id=str(cid), ip=ip, rows=sum(counts.values()),
                        changes=json.dumps({"code": code, "erased": list(ERASED_COLUMNS), "rows": counts,
                                            "older_audit_entries_kept": older_entries}, ensure_ascii=False))
    _drop_report_copies()
    return counts


def _drop_report_copies():
    """The report builder's shared copies (analytics.copies) hold customers' names as of their build: drop them
    all, or the erased name stays on 自定义报表 until the next build.  The screen reads live data and queues a new
    build meanwhile.  A build running now is waited for and dropped too (discard takes the builds' turn)."""
    from analytics import copies

    try:
        copies.discard()
    except copies.RulesError:  # bad copy settings: no copy is read anyway (the builder reads live)
        pass


def erased(since=None):
    """[(at, code, username)] of every erase recorded in the audit log (since `since`, a datetime), oldest first:
    what to erase again after restoring a backup taken before them (docs/backup.md)."""
    query = AuditLog.select().where(AuditLog.action == "personal-data-erase")
    if since is not None:
        query = query.where(AuditLog.at >= since)
    found = []
    for entry in query.order_by(AuditLog.at, AuditLog.id):
        code = json.loads(entry.changes or "{}").get("code")
        found.append((entry.at, code, entry.username))
    return found
