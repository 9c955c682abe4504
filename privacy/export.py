"""Export everything held about one customer: a document of sections (sections.py), as JSON or XLSX, audited.

Column rules are the exporting user's, not the data subject's: the subject is entitled to all of their data,
but the staff member who runs the export may not be allowed to read an ID number or an order's amount, and
the file passes through their hands.  So a hidden column is left out and a masked one is masked, as on every
other screen and export; the document says which columns and sections were left out and why, so whoever
answers the request knows to ask someone whose role shows them (the 系统管理员 by default, or
`run.py personal-data export` on the server, which shows everything).  See docs/privacy.md.
"""
import datetime
import decimal
import io
import json

from access import mask
from access.grant import HIDDEN, MASKED
from intake.engine import escape  # the formula guard the import's rejected-rows file and admin exports use
from models import AuditLog, db

from .policy import PrivacyError, find_customer, grant_of, may_export
from .sections import SECTIONS, load_staff_names, staff_names

FORMATS = ("json", "xlsx")
NOT_ALLOWED = "您的角色没有导出客户个人数据的权限"


def _plain(value):
    """A JSON-ready value: money as text with its two places, dates and times as ISO text."""
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _read(column, row):
    return column.read(row) if column.read is not None else row.__data__.get(column.name)


def _section(section, customer, grant):
    """{key, label, columns, rows, left_out} of one section under `grant` (None: everything in clear)."""
    rule = (lambda name: "editable") if grant is None else (lambda name: grant.access(section.policy_key, name))
    columns = [c for c in section.columns if rule(c.name) != HIDDEN]
    rows = []
    for row in section.rows(customer):
        values = {}
        for column in columns:
            value = _plain(_read(column, row))
            values[column.name] = mask(value) if rule(column.name) == MASKED and value not in (None, "") else value
        rows.append(values)
    return {"key": section.key, "label": section.label, "columns": [[c.name, c.label] for c in columns],
            "masked": [c.name for c in columns if rule(c.name) == MASKED],
            "left_out": [c.label for c in section.columns if rule(c.name) == HIDDEN], "rows": rows}


def collect(customer, grant, username, now):
    """The export document of `customer` as `grant` may see it."""
    sections, left_out = [], []
    token = load_staff_names()
    try:
        for section in SECTIONS:
            if grant is not None and not grant.can(section.policy_key, "view"):
                left_out.append({"key": section.key, "label": section.label, "reason": "导出人的角色无权查看"})
                continue
            sections.append(_section(section, customer, grant))
    finally:
        staff_names.reset(token)
    return {"customer_code": customer.code, "exported_at": now.isoformat(sep=" ", timespec="seconds"),
            "exported_by": username, "role": grant.label if grant is not None else "命令行（全部字段）",
            "sections": sections, "left_out_sections": left_out}


def export(code, user=None, fmt="json", ip=None, now=None):
    """The export document of customer `code` for `user`, audited (personal-data-export, rows = every row);
    PrivacyError without the permission, for a customer out of scope or an unknown format."""
    if fmt not in FORMATS:
        raise PrivacyError(f"导出格式应为 json 或 xlsx，收到 {fmt!r}")
    grant = grant_of(user)
    if not may_export(grant):
        raise PrivacyError(NOT_ALLOWED)
    now = now or datetime.datetime.now()
    username = getattr(user, "username", None) or "cli"
    with db.atomic():
        customer = find_customer(code, user, grant)
        document = collect(customer, grant, username, now)
        counts = {s["key"]: len(s["rows"]) for s in document["sections"]}
        AuditLog.create(at=now, username=username, action="personal-data-export", model="customer",
                        record_id=str(customer.id), ip=ip, rows=sum(counts.values()),
                        changes=json.dumps({"code": customer.code, "format": fmt, "rows": counts,
                                            "left_out_sections": [s["key"] for s in document["left_out_sections"]],
                                            "masked": {s["key"]: s["masked"] for s in document["sections"] if s["masked"]}},
                                           ensure_ascii=False))
    return document


def as_json(document):
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def as_xlsx(document):
    """One sheet per section (headers in Chinese, every text cell formula-safe), after a 说明 sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    about = book.active
    about.title = "说明"
    about.append(["客户编号", escape(document["customer_code"])])
    about.append(["导出时间", document["exported_at"]])
    about.append(["导出人", escape(document["exported_by"])])
    about.append(["导出人角色", escape(document["role"])])
    for section in document["sections"]:
        if section["left_out"]:
            about.append([f"{section['label']}：未导出的字段", "、".join(section["left_out"])])
        if section["masked"]:
            labels = dict(section["columns"])
            about.append([f"{section['label']}：脱敏的字段", "、".join(labels[m] for m in section["masked"])])
    for left in document["left_out_sections"]:
        about.append([f"{left['label']}：未导出", left["reason"]])
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 60
    for section in document["sections"]:
        sheet = book.create_sheet(section["label"][:31])
        names = [name for name, _ in section["columns"]]
        sheet.append([label for _, label in section["columns"]])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in section["rows"]:
            sheet.append([_cell(name, row.get(name)) for name in names])
        for index, name in enumerate(names, start=1):
            if name in MONEY:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = "#,##0.00"
            # wide enough for the longest value (a CJK character counts twice), within reason
            longest = max(_width(cell.value) for (cell,) in sheet.iter_rows(min_col=index, max_col=index))
            sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


MONEY = ("amount", "annual_revenue", "annual_spend", "ltv")


def _width(value):
    text = "" if value is None else (f"{value:,.2f}" if isinstance(value, float) else str(value))
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _cell(name, value):
    """Money as a number (a masked amount stays text), everything else as text made formula-safe."""
    if name in MONEY and isinstance(value, str):
        try:
            return float(decimal.Decimal(value))
        except decimal.InvalidOperation:
            return escape(value)
    return escape(value)
