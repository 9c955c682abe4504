"""What an export holds: a registry of sections, one per kind of record about one customer.

A section names the policy key whose `view` permission it needs and whose column rules apply to its columns
(the exporting user's grant: hidden columns are left out, masked ones masked), its columns with the labels
people know, and how to read its rows for one customer.  A new kind of record about customers adds one
Section here; the JSON, the XLSX (one sheet per section) and the audit entry's counts follow.
"""
import contextvars
import json
from dataclasses import dataclass

from models import (AuditLog, CustomerTag, CustomerValue, Feedback, FollowUp, ImportBatch, ImportChange,
                    MergeRecord, Order, StatusChange, Tag, Task, User)
from models.tasks import CLOSE_REASONS, TASK_ORIGINS, TASK_STATUSES
from models.activity import TAG_SOURCES


@dataclass(frozen=True)
class Column:
    name: str  # the field name, which the policy's column rules name too
    label: str
    read: object = None  # read(row) -> value; default: the row's stored value of `name`


@dataclass(frozen=True)
class Section:
    key: str
    label: str  # also the XLSX sheet's name (at most 31 characters)
    policy_key: str
    columns: tuple
    rows: object  # rows(customer) -> iterable of model instances


# Staff names by id, read once per export (export.collect sets it): a follow-up or task row names its user.
staff_names = contextvars.ContextVar("staff_names", default=None)


def load_staff_names():
    return staff_names.set({u.id: u.display_name for u in User.select(User.id, User.display_name)})


def _user_name(user_id):
    if user_id is None:
        return None
    names = staff_names.get()
    if names is None:
        user = User.get_or_none(User.id == user_id)
        return user.display_name if user else f"#{user_id}"
    return names.get(user_id, f"#{user_id}")


def _fk(name):
    return lambda row: _user_name(row.__data__.get(name))


def _choice(choices, name):
    names = dict(choices)
    return lambda row: names.get(row.__data__.get(name), row.__data__.get(name))


CUSTOMER = Section("customer", "客户资料", "customer", (
    Column("code", "客户编号"), Column("name", "客户名称"), Column("customer_type", "客户类型"),
    Column("contact", "联系人"), Column("mobile", "手机号码"), Column("phone", "电话"), Column("email", "邮箱"),
    Column("industry", "所属行业"), Column("region", "所属地区"), Column("source", "客户来源"),
    Column("address", "地址"), Column("employees", "员工人数"), Column("annual_revenue", "年营收"),
    Column("needs", "客户需求"), Column("notes", "备注"), Column("first_contact", "首次接触时间"),
    Column("owner", "负责人", _fk("owner")), Column("status", "客户状态"),
    Column("id_number", "身份证号", lambda row: row.id_number), Column("bank_account", "银行卡号", lambda row: row.bank_account),
    Column("consent_purpose", "同意用途"), Column("consent_at", "同意日期"),
    Column("consent_withdrawn_at", "撤回同意日期"), Column("anonymised_at", "匿名化时间"),
    Column("created_at", "创建时间"), Column("updated_at", "更新时间"),
), lambda customer: [customer])

FOLLOWUPS = Section("followup", "跟进记录", "followup", (
    Column("record_no", "记录ID"), Column("at", "时间"), Column("method", "跟进方式"), Column("content", "内容"),
    Column("result", "跟进结果"), Column("next_date", "下次跟进时间"), Column("user", "操作人", _fk("user")),
), lambda customer: FollowUp.select().where(FollowUp.customer == customer.id).order_by(FollowUp.at, FollowUp.id))

ORDERS = Section("order", "订单", "order", (
    Column("order_no", "订单号"), Column("ordered_at", "下单时间"), Column("amount", "金额"),
    Column("quantity", "数量"), Column("product", "产品"), Column("channel", "渠道"),
), lambda customer: Order.select().where(Order.customer == customer.id).order_by(Order.ordered_at, Order.id))

FEEDBACK = Section("feedback", "客户反馈", "feedback", (
    Column("kind", "类型"), Column("score", "评分"), Column("content", "内容"), Column("status", "处理状态"),
    Column("created_at", "创建时间"),
), lambda customer: Feedback.select().where(Feedback.customer == customer.id).order_by(Feedback.created_at, Feedback.id))

TAGS = Section("customertag", "客户标签", "customertag", (
    Column("tag", "标签", lambda row: row.tag.name), Column("category", "分类", lambda row: row.tag.category),
    Column("source", "来源", _choice(TAG_SOURCES, "source")), Column("created_at", "创建时间"),
), lambda customer: CustomerTag.select(CustomerTag, Tag).join(Tag).where(CustomerTag.customer == customer.id)
    .order_by(Tag.name))

TASKS = Section("task", "跟进任务", "task", (
    Column("title", "任务"), Column("origin", "来源", _choice(TASK_ORIGINS, "origin")), Column("method", "跟进方式"),
    Column("due_on", "到期日"), Column("status", "状态", _choice(TASK_STATUSES, "status")),
    Column("assignee", "负责人", _fk("assignee")), Column("created_at", "创建时间"), Column("closed_at", "关闭时间"),
    Column("closed_reason", "关闭原因", _choice(CLOSE_REASONS, "closed_reason")), Column("closed_note", "完成说明"),
), lambda customer: Task.select().where(Task.customer == customer.id).order_by(Task.created_at, Task.id))

STATUS_CHANGES = Section("statuschange", "状态变更", "statuschange", (
    Column("at", "时间"), Column("from_status", "原状态"), Column("to_status", "新状态"), Column("reason", "原因"),
    Column("user", "操作人", _fk("user")),
), lambda customer: StatusChange.select().where(StatusChange.customer == customer.id)
    .order_by(StatusChange.at, StatusChange.id))

VALUE = Section("customervalue", "客户价值", "customervalue", (
    Column("annual_spend", "年度消费额"), Column("orders_12m", "订单总笔数"), Column("ltv", "客户生命周期价值 LTV"),
    Column("tier", "客户分层"), Column("last_order_at", "最后下单时间"), Column("as_of", "数据日期"),
), lambda customer: CustomerValue.select().where(CustomerValue.customer == customer.id))


def _import_changes(customer):
    """Undo records of imports that wrote this customer, or its follow-ups and orders."""
    follow_ups = FollowUp.select(FollowUp.id).where(FollowUp.customer == customer.id)
    orders = Order.select(Order.id).where(Order.customer == customer.id)
    return (ImportChange.select(ImportChange, ImportBatch).join(ImportBatch)
            .where(((ImportChange.model == "customer") & (ImportChange.record_id == customer.id))
                   | ((ImportChange.model == "followup") & ImportChange.record_id.in_(follow_ups))
                   | ((ImportChange.model == "order") & ImportChange.record_id.in_(orders)))
            .order_by(ImportChange.id))


IMPORTS = Section("imports", "导入记录", "importrun", (
    Column("batch", "导入批次", lambda row: row.batch_id), Column("filename", "文件", lambda row: row.batch.filename),
    Column("created_at", "导入时间", lambda row: row.batch.created_at),
    Column("username", "导入人", lambda row: row.batch.username),
    Column("model", "记录类型", lambda row: {"customer": "客户", "followup": "跟进记录", "order": "订单"}.get(row.model, row.model)),
    Column("action", "操作", lambda row: {"created": "新建", "updated": "更新"}.get(row.action, row.action)),
    # which fields the import wrote, never their values (those are in the other sheets as they are now)
    Column("fields", "写入的字段", lambda row: "、".join(sorted((row.after or {}).keys()))),
    Column("status", "批次状态", lambda row: {"done": "已导入", "undone": "已撤销"}.get(row.batch.status, row.batch.status)),
), _import_changes)


def merges_of(customer):
    """Merge records that name the customer: as the survivor, or among the merged-away customers (a merge undone
    since, whose customer came back with its id).  merged_codes narrows by LIKE, the JSON decides."""
    found = []
    query = MergeRecord.select().where((MergeRecord.survivor_id == customer.id)
                                       | MergeRecord.merged_codes.contains(customer.code)).order_by(MergeRecord.id)
    for record in query:
        if record.survivor_id == customer.id or customer.code in record.merged_codes.split(","):
            found.append(record)
    return found


MERGES = Section("merges", "合并记录", "duplicates", (
    Column("id", "合并记录"), Column("created_at", "合并时间"), Column("survivor_code", "保留的客户"),
    Column("merged_codes", "并入的客户"), Column("username", "操作人"), Column("undone_at", "撤销时间"),
), merges_of)

RECORD_MODELS = {"followup": FollowUp, "order": Order, "feedback": Feedback, "statuschange": StatusChange,
                 "customertag": CustomerTag, "task": Task}


def audit_entries(customer):
    """Audit entries about the customer or one of its records (by model and record id)."""
    where = (AuditLog.model == "customer") & (AuditLog.record_id == str(customer.id))
    for key, model in RECORD_MODELS.items():
        ids = [str(i) for (i,) in model.select(model.id).where(model.customer == customer.id).tuples()]
        for start in range(0, len(ids), 500):
            where |= (AuditLog.model == key) & AuditLog.record_id.in_(ids[start:start + 500])
    return AuditLog.select().where(where).order_by(AuditLog.at, AuditLog.id)


def _changes_text(row):
    if not row.changes:
        return None
    try:
        return json.dumps(json.loads(row.changes), ensure_ascii=False)
    except ValueError:
        return row.changes


AUDIT = Section("audit", "审计记录", "auditlog", (
    Column("at", "时间"), Column("username", "用户"), Column("action", "操作"), Column("model", "表"),
    Column("record_id", "记录"), Column("changes", "变更内容", _changes_text), Column("rows", "行数"),
), audit_entries)

SECTIONS = (CUSTOMER, FOLLOWUPS, ORDERS, FEEDBACK, TAGS, TASKS, STATUS_CHANGES, VALUE, IMPORTS, MERGES, AUDIT)

__all__ = ["Column", "SECTIONS", "Section", "audit_entries", "load_staff_names", "merges_of", "staff_names"]
