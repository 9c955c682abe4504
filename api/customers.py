"""Customers through the API: list (keyset pages, filters), get by code, create, partial update.

The same rules as the 客户 screen: the caller's grant on `customer` decides the actions, the row scope
(out of scope is 404, as missing) and the columns (hidden absent, masked masked, a column the role may not
write refused per field).  Values are cleaned by the import's field specs (intake.record.clean_record:
models.standardise and the columns' ranges, as forms and imports), then the screen's cross-field rules
(a mobile or a landline; a code in the 区域-行业-年份-序号 form and unique; an owner inside the caller's
scope).  Every write is audited with the token's name and re-checks the customer's tag rules and status
pipeline, in the same transaction, as a save on the screen does.
"""

import peewee
from pydantic import BaseModel, ConfigDict, Field

import access
import pipeline
import tagging
import tagrules
from intake.record import clean_record
from models import Customer, CustomerTag, StatusChange, Tag, User, change_status, constraints, db, standardise
from models import validation as rules
from models.customers import STATUSES

from . import bp, columns, inputs, paging, trail
from .errors import ApiError, invalid
from .openapi import Query, operation
from .tokens import caller

KEY = "customer"
TAGS = ["客户"]
# What the API shows of a customer, in this order (the details page's columns, less 匿名化时间).
SHOWN = ("code", "name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region", "source",
         "address", "employees", "annual_revenue", "needs", "notes", "first_contact", "owner", "status",
         "id_number", "bank_account", "consent_purpose", "consent_at", "consent_withdrawn_at", "created_at",
         "updated_at")
# What create and update take: the import's customer fields (intake.kinds.CUSTOMER_FIELDS).
WRITABLE = ("code", "name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region", "source",
            "address", "employees", "annual_revenue", "needs", "notes", "first_contact", "owner", "status",
            "id_number", "bank_account")
SENSITIVE = set(Customer.SEALED)  # never written to the audit in clear
TEXT = (str,)
NUMBER = (str, int, float)
TYPES = {"employees": (str, int), "annual_revenue": NUMBER}
TYPE_NAMES = {TEXT: "文本", NUMBER: "数字或文本", (str, int): "整数或文本"}

MASK_NOTE = "；该字段被您的角色隐藏时不出现，脱敏时为脱敏文本"


def _text(description):
    return Field(None, description=description + MASK_NOTE)


class CustomerOut(BaseModel):
    """一个客户，按令牌所属用户的字段规则显示。"""

    model_config = ConfigDict(extra="forbid")

    code: str | None = _text("客户编号，区域-行业-年份-序号，例如 HB-IT-2024-001")
    name: str | None = _text("客户名称")
    customer_type: str | None = _text("客户类型：企业 / 个人")
    contact: str | None = _text("联系人")
    mobile: str | None = _text("手机号码（11 位）")
    phone: str | None = _text("电话")
    email: str | None = _text("邮箱")
    industry: str | None = _text("所属行业（选项列表中的名称）")
    region: str | None = _text("所属地区（选项列表中的名称）")
    source: str | None = _text("客户来源（选项列表中的名称）")
    address: str | None = _text("地址")
    employees: int | str | None = _text("员工人数")
    annual_revenue: str | None = _text("年营收，两位小数的金额文本，例如 5000000.00")
    needs: str | None = _text("客户需求")
    notes: str | None = _text("备注")
    first_contact: str | None = _text("首次接触日期，YYYY-MM-DD")
    owner: str | None = _text("负责人（用户名）")
    status: str | None = _text("客户状态：潜在客户 / 意向客户 / 成交客户 / 流失客户")
    id_number: str | None = _text("身份证号")
    bank_account: str | None = _text("银行卡号")
    consent_purpose: str | None = _text("同意的处理目的")
    consent_at: str | None = _text("同意日期，YYYY-MM-DD")
    consent_withdrawn_at: str | None = _text("撤回同意日期，YYYY-MM-DD")
    created_at: str | None = _text("创建时间，YYYY-MM-DDTHH:MM:SS")
    updated_at: str | None = _text("最后修改时间，YYYY-MM-DDTHH:MM:SS")


class CustomerPage(BaseModel):
    """一页客户。"""

    model_config = ConfigDict(extra="forbid")

    items: list[CustomerOut] = Field(description="本页的客户，按创建顺序")
    next_cursor: str | None = Field(description="下一页的游标；最后一页为 null")


class CustomerQuery(Query):
    status: str | None = Field(None, description="客户状态：潜在客户 / 意向客户 / 成交客户 / 流失客户")
    owner: str | None = Field(None, description="负责人的用户名")
    region: str | None = Field(None, description="所属地区")
    industry: str | None = Field(None, description="所属行业")
    tag: str | None = Field(None, description="带有此标签（标签名称）的客户")
    updated_since: str | None = Field(None, description="只列出此时间及之后修改过的客户，例如 2024-01-15 或 2024-01-15T08:00:00")
    cursor: str | None = Field(None, description="上一页返回的 next_cursor；第一页不填")
    limit: int = Field(50, ge=1, le=200, description="每页条数，1-200，默认 50")


def _input(description):
    return Field(None, description=description)


class CustomerWrite(BaseModel):
    """修改客户：只需提交要修改的字段（空字符串或 null 清空该字段）。取值规则与导入相同。"""

    model_config = ConfigDict(extra="forbid")

    code: str | None = _input("客户编号：区域-行业-年份-序号；新建时留空则自动生成")
    name: str | None = _input("客户名称，最多 120 个字符")
    customer_type: str | None = _input("客户类型：企业 / 个人（也接受 公司、个体 等同义词）")
    contact: str | None = _input("联系人，最多 60 个字符")
    mobile: str | None = _input("手机号码，11 位，可带 +86、空格或横线")
    phone: str | None = _input("电话")
    email: str | None = _input("邮箱")
    industry: str | None = _input("所属行业：选项列表中的名称、代码或别名")
    region: str | None = _input("所属地区：选项列表中的名称、代码或别名")
    source: str | None = _input("客户来源：选项列表中的名称、代码或别名")
    address: str | None = _input("地址，最多 255 个字符")
    employees: int | str | None = _input("员工人数，不小于 0 的整数")
    annual_revenue: float | int | str | None = _input("年营收，不小于 0，可带千位分隔符或 ¥")
    needs: str | None = _input("客户需求")
    notes: str | None = _input("备注")
    first_contact: str | None = _input("首次接触日期，例如 2024-01-15、2024/1/15 或 2024年1月15日")
    owner: str | None = _input("负责人的用户名（须在您的数据范围内；字段对您只读时为您本人）")
    status: str | None = _input("客户状态：潜在客户 / 意向客户 / 成交客户 / 流失客户；变更记入状态历史")
    id_number: str | None = _input("身份证号（加密保存）")
    bank_account: str | None = _input("银行卡号（加密保存）")


class CustomerCreate(CustomerWrite):
    """新建客户：客户名称必填，手机号码和电话至少填写一项。"""

    name: str = Field(description="客户名称，最多 120 个字符")


# --- reading ----------------------------------------------------------------------------------------------------

def _shown(customers, grant):
    """The customers as the caller's column rules show them."""
    owner_ids = {c.owner_id for c in customers} - {None}
    names = dict(User.select(User.id, User.username).where(User.id.in_(list(owner_ids))).tuples()) if owner_ids else {}
    out = []
    for customer in customers:
        values = {}
        for name in SHOWN:
            value = names.get(customer.owner_id) if name == "owner" else getattr(customer, name)
            values[name] = columns.plain(value)
        out.append(columns.project(grant, KEY, values))
    return out


def _scoped(who):
    return access.scope_query(Customer, Customer.select(), who.user, who.grant)


def _one(who, code):
    code = inputs.path_text(code, "code")
    found = _scoped(who).where(Customer.code == code).first()
    if found is None:
        raise ApiError(404, "not_found", "客户不存在或不在您的数据范围内")
    return found


def _need(who, action):
    if not who.can(KEY, action):
        verb = {"view": "查看", "create": "新建", "edit": "修改"}[action]
        raise ApiError(403, "forbidden", f"您的角色没有{verb}客户的权限")


def _filter_refused(name):
    return invalid([{"field": name, "message": "您的角色不能按此字段筛选"}])


def _filtered(who, query):
    grant = who.grant
    errors = []
    status = inputs.query_text("status")
    if status is not None:
        if not grant.clear(KEY, "status"):
            raise _filter_refused("status")
        if status not in dict(STATUSES):
            errors.append({"field": "status", "value": status, "message": "客户状态应为 潜在客户、意向客户、成交客户 或 流失客户"})
        query = query.where(Customer.status == status)
    owner = inputs.query_text("owner")
    if owner is not None:
        if not grant.clear(KEY, "owner"):
            raise _filter_refused("owner")
        owner_id = User.select(User.id).where(User.username == owner).scalar()
        if owner_id is None:
            errors.append({"field": "owner", "value": owner, "message": f"用户“{owner}”不存在"})
        query = query.where(Customer.owner == owner_id)
    for name in ("region", "industry"):
        value = inputs.query_text(name)
        if value is not None:
            if not grant.clear(KEY, name):
                raise _filter_refused(name)
            query = query.where(getattr(Customer, name) == value)
    tag = inputs.query_text("tag")
    if tag is not None:
        if not tagging.may_see(grant):
            raise ApiError(403, "forbidden", "您的角色不能按标签筛选客户")
        tag_id = Tag.select(Tag.id).where(Tag.name == tag).scalar()
        if tag_id is None:
            errors.append({"field": "tag", "value": tag, "message": f"标签“{tag}”不存在"})
        query = query.where(Customer.id.in_(CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == tag_id)))
    since = inputs.query_text("updated_since")
    if since is not None:
        if not grant.visible(KEY, "updated_at"):
            raise _filter_refused("updated_since")
        try:
            moment = standardise.moment(since)
        except standardise.StandardError as error:
            errors.append({"field": "updated_since", "value": since, "message": str(error)})
        else:
            query = query.where(Customer.updated_at >= moment)
    if errors:
        raise invalid(errors)
    return query


@bp.get("/customers")
@operation(summary="客户列表", tags=TAGS, query=CustomerQuery, responses={200: CustomerPage},
           description="按创建顺序分页（游标分页）：下一页用上一页的 next_cursor 和相同的筛选条件请求。"
                       "只列出令牌所属用户数据范围内的客户。")
def list_customers():
    who = caller()
    _need(who, "view")
    limit = inputs.query_int("limit", 50, 1, 200)
    after = paging.decode(inputs.query_text("cursor"))
    rows, next_cursor = paging.page(_filtered(who, _scoped(who)), Customer.id, after, limit)
    return {"items": _shown(rows, who.grant), "next_cursor": next_cursor}


@bp.get("/customers/<code>")
@operation(summary="按客户编号查询客户", tags=TAGS, responses={200: CustomerOut}, path={"code": "客户编号"})
def get_customer(code):
    who = caller()
    _need(who, "view")
    return _shown([_one(who, code)], who.grant)[0]


# --- writing ----------------------------------------------------------------------------------------------------

def _typed(payload):
    errors = []
    for name, value in payload.items():
        if name not in WRITABLE:
            errors.append({"field": name, "message": "没有这个字段（或不能通过 API 写入）"})
            continue
        allowed = TYPES.get(name, TEXT)
        if value is not None and (isinstance(value, bool) or not isinstance(value, allowed)):
            errors.append({"field": name, "value": value, "message": f"类型不正确：应为{TYPE_NAMES[allowed]}"})
    return errors


def _cleaned(who, payload):
    """(values, errors): the payload's fields the role may write, cleaned as an import cleans its cells."""
    errors = _typed(payload)
    known = {k: v for k, v in payload.items() if k not in {e["field"] for e in errors}}
    errors += columns.refuse_unwritable(who.grant, KEY, known)
    refused = {e["field"] for e in errors}
    values, cleaning = clean_record("customers", {k: v for k, v in known.items() if k not in refused})
    for error in cleaning:
        if error["field"] in SENSITIVE:
            error["value"] = None  # an ID number or a bank card is never echoed back
    return values, errors + cleaning


def _owner(who, values, errors, customer):
    """The owner id to store (or customer's current one): by username, inside the caller's scope."""
    if "owner" not in values:
        return customer.owner_id if customer is not None else who.user.id
    username = values.pop("owner")
    if username is None:
        errors.append({"field": "owner", "message": "负责人不能为空"})
        return None
    owner_id = User.select(User.id).where(User.username == username).scalar()
    allowed = who.owners
    if owner_id is None:
        errors.append({"field": "owner", "value": username, "message": f"负责人“{username}”不存在"})
    elif allowed is not None and owner_id not in allowed:
        errors.append({"field": "owner", "value": username, "message": "负责人只能是您的数据范围内的用户"})
    return owner_id


def _cross_checks(values, errors, customer):
    """The screen's rules across fields, on the record as it would be stored."""
    def final(name):
        return values[name] if name in values else (getattr(customer, name) if customer is not None else None)

    failed = {e["field"] for e in errors}
    if "name" in values and values["name"] is None and "name" not in failed:
        errors.append({"field": "name", "message": "客户名称必填"})
    if "customer_type" in values and values["customer_type"] is None:
        values.pop("customer_type")  # an empty type keeps the stored one (the column is never empty)
    if "status" in values and values["status"] is None:
        errors.append({"field": "status", "message": "客户状态不能为空"})
    anonymised = customer is not None and customer.anonymised_at
    message = None if anonymised else rules.check_contact_present(final("mobile"), final("phone"))
    if message and not failed & {"mobile", "phone"}:
        errors.append({"field": "mobile", "message": message})
    code = values.get("code")
    if code and (customer is None or code != customer.code) and "code" not in failed:
        message = rules.check_code(code)
        if message:
            errors.append({"field": "code", "value": code, "message": message})
        elif Customer.select().where(Customer.code == code).exists():
            errors.append({"field": "code", "value": code, "message": f"客户编号 {code} 已存在"})
    if "code" in values and code is None and customer is not None:
        errors.append({"field": "code", "message": "客户编号不能清空"})


def _changes(before, after):
    changes = {}
    for name, new in after.items():
        old = before.get(name)
        if old != new:
            changes[name] = ["***", "***"] if name in SENSITIVE else [columns.plain(old), columns.plain(new)]
    return changes


def _after_write(customer_id):
    pipeline.after_change([customer_id])  # first: a status it moves is an input of the tag rules
    tagrules.after_change([customer_id])


def _saved(write):
    """Run `write` (the save and its audit, in one transaction); a code taken meanwhile by another save (the check
    before it saw it free) is the code's field error, as the check would have said, not a 500."""
    try:
        with db.atomic():
            return write()
    except peewee.IntegrityError as error:
        if constraints.broken(error) == "unique" and "code" in constraints.unique_columns(error):
            raise invalid([{"field": "code", "message": "客户编号已存在"}]) from None
        raise


def _reason(who):
    return f"API：{who.token.name}"[:255]


@bp.post("/customers")
@operation(summary="新建客户", tags=TAGS, json=CustomerCreate, responses={201: CustomerOut},
           description="客户名称必填，手机号码和电话至少填写一项；客户编号留空则自动生成。"
                       "负责人字段对您只读时，新客户的负责人为令牌所属用户。")
def create_customer():
    who = caller()
    _need(who, "create")
    payload = inputs.json_object()
    values, errors = _cleaned(who, payload)
    if "name" not in payload and not any(e["field"] == "name" for e in errors):
        errors.append({"field": "name", "message": "客户名称必填"})
    owner_id = _owner(who, values, errors, None)
    _cross_checks(values, errors, None)
    if errors:
        raise invalid(errors)
    status = values.pop("status", None) or "潜在客户"

    def write():
        customer = Customer(**{k: v for k, v in values.items() if v is not None}, owner=owner_id, status=status)
        customer.save()
        StatusChange.create(customer=customer, from_status=None, to_status=status, reason="新建客户", user=who.user.id)
        after = {k: v for k, v in customer.__data__.items() if k in WRITABLE}
        after["owner"] = owner_id
        trail.record("create", KEY, customer.id, _changes({}, after))
        _after_write(customer.id)
        return customer.id

    return _shown([Customer.get_by_id(_saved(write))], who.grant)[0], 201


@bp.patch("/customers/<code>")
@operation(summary="修改客户（部分字段）", tags=TAGS, json=CustomerWrite, responses={200: CustomerOut},
           path={"code": "客户编号"},
           description="只提交要修改的字段；对您的角色只读、脱敏或隐藏的字段会被逐字段拒绝。状态变更记入状态历史。")
def update_customer(code):
    who = caller()
    _need(who, "edit")
    customer = _one(who, code)
    payload = inputs.json_object()
    values, errors = _cleaned(who, payload)
    owner_id = _owner(who, values, errors, customer)
    _cross_checks(values, errors, customer)
    if errors:
        raise invalid(errors)
    status = values.pop("status", None)
    before = {name: customer.__data__.get(name) for name in WRITABLE}
    before["owner"] = customer.owner_id

    def write():
        for name, value in values.items():
            setattr(customer, name, value)
        customer.owner = owner_id
        after = {name: customer.__data__.get(name) for name in WRITABLE if name != "status"}
        after["owner"] = owner_id
        changes = _changes(before, after)
        for name in SENSITIVE & set(values):
            if values[name] == before.get(name):
                changes.pop(name, None)
        if changes:
            customer.save()
        if status is not None and status != customer.status:
            change_status(customer, status, _reason(who), user=who.user.id)
            changes["status"] = [before["status"], status]
        if changes:
            trail.record("update", KEY, customer.id, changes)
            _after_write(customer.id)

    _saved(write)
    return _shown([Customer.get_by_id(customer.id)], who.grant)[0]


__all__ = ["CustomerOut", "CustomerPage", "CustomerCreate", "CustomerWrite"]
