"""Orders and follow-ups through the API: a customer's, page by page, and bulk upsert from an ERP or a CRM.

    GET  /api/v1/customers/<code>/orders       GET  /api/v1/customers/<code>/followups
    POST /api/v1/orders/bulk                   POST /api/v1/followups/bulk      {"items": [...], "partial": false}

The lists follow the 订单 / 跟进记录 screens' rules: `order` / `followup` view, the customer in the caller's
row scope (404 otherwise, as missing), the columns as the caller's grant shows them (客服专员 sees no 金额).
A bulk call is sync.upsert: the importer's cleaning and checks per item, all or nothing unless `partial`,
idempotent, set-based, audited with the token's name (docs/api.md, Bulk sync).
"""

from flask import request
from pydantic import BaseModel, ConfigDict, Field

import access
import sync
from models import Customer, FollowUp, Order, User

from . import bp, columns, inputs, paging, trail
from .errors import ApiError, ErrorBody, FieldError, invalid
from .openapi import operation
from .tokens import caller

HIDDEN_NOTE = "；该字段被您的角色隐藏时不出现"
BULK_ERRORS = {
    409: (ErrorBody, "其他写入（导入或表单）同时新建了相同编号的记录，重试一次后仍冲突：本次未写入任何数据；"
                     "message 和 errors 列出冲突的编号（index、field、value），请重新发送"),
    413: (ErrorBody, "一次超过 10,000 项：请分批发送"),
}


class OrderOut(BaseModel):
    """一笔订单，按令牌所属用户的字段规则显示。"""

    model_config = ConfigDict(extra="forbid")

    order_no: str | None = Field(None, description="订单号" + HIDDEN_NOTE)
    customer_code: str = Field(description="客户编号")
    ordered_at: str | None = Field(None, description="下单时间，YYYY-MM-DDTHH:MM:SS" + HIDDEN_NOTE)
    amount: str | None = Field(None, description="金额，两位小数的文本，例如 1280.50" + HIDDEN_NOTE)
    quantity: int | str | None = Field(None, description="数量" + HIDDEN_NOTE + "，脱敏时为脱敏文本")
    product: str | None = Field(None, description="产品" + HIDDEN_NOTE)
    channel: str | None = Field(None, description="渠道" + HIDDEN_NOTE)


class FollowUpOut(BaseModel):
    """一条跟进记录，按令牌所属用户的字段规则显示。"""

    model_config = ConfigDict(extra="forbid")

    record_no: str | None = Field(None, description="记录ID" + HIDDEN_NOTE)
    customer_code: str = Field(description="客户编号")
    at: str | None = Field(None, description="跟进时间，YYYY-MM-DDTHH:MM:SS" + HIDDEN_NOTE)
    method: str | None = Field(None, description="跟进方式：电话 / 拜访 / 邮件 / 线上会议" + HIDDEN_NOTE)
    content: str | None = Field(None, description="跟进内容" + HIDDEN_NOTE)
    result: str | None = Field(None, description="跟进结果：有意向 / 需跟进 / 已报价 / 暂无意向" + HIDDEN_NOTE)
    next_date: str | None = Field(None, description="下次跟进时间，YYYY-MM-DD" + HIDDEN_NOTE)
    user: str | None = Field(None, description="跟进人（用户名）" + HIDDEN_NOTE)


class OrderPage(BaseModel):
    """一页订单，按订单录入顺序。"""

    model_config = ConfigDict(extra="forbid")

    items: list[OrderOut] = Field(description="本页的订单")
    next_cursor: str | None = Field(description="下一页的游标；最后一页为 null")


class FollowUpPage(BaseModel):
    """一页跟进记录，按录入顺序。"""

    model_config = ConfigDict(extra="forbid")

    items: list[FollowUpOut] = Field(description="本页的跟进记录")
    next_cursor: str | None = Field(description="下一页的游标；最后一页为 null")


Scalar = str | int | float | None


class OrderIn(BaseModel):
    """一笔要新建或更新的订单：按订单号匹配，已有则更新所提交的字段（未提交或为 null 的字段保持不变）。取值规则与订单导入相同。"""

    model_config = ConfigDict(extra="forbid")

    order_no: str = Field(description="订单号（匹配键），最多 40 个字符")
    customer_code: str = Field(description="客户编号：须为您数据范围内的已有客户")
    ordered_at: Scalar = Field(None, description="下单时间（新订单必填），例如 2024-01-15 10:00、2024/1/15 或 2024-01-15T10:00:00")
    amount: Scalar = Field(None, description="金额（新订单必填），不小于 0，可带千位分隔符或 ¥，例如 1,280.50")
    quantity: Scalar = Field(None, description="数量，不小于 0 的整数；新订单默认 1")
    product: Scalar = Field(None, description="产品，最多 120 个字符")
    channel: Scalar = Field(None, description="渠道，最多 40 个字符")


class FollowUpIn(BaseModel):
    """一条要新建或更新的跟进记录：按记录ID匹配。取值规则与跟进记录导入相同。"""

    model_config = ConfigDict(extra="forbid")

    record_no: str = Field(description="记录ID（匹配键），最多 20 个字符，保存为大写")
    customer_code: str = Field(description="客户编号：须为您数据范围内的已有客户")
    at: Scalar = Field(None, description="跟进时间（必填），例如 2024-01-15 14:30")
    method: Scalar = Field(None, description="跟进方式（必填）：电话 / 拜访 / 邮件 / 线上会议，也接受 致电、上门 等同义词")
    content: Scalar = Field(None, description="跟进内容（必填）")
    result: Scalar = Field(None, description="跟进结果：有意向 / 需跟进 / 已报价 / 暂无意向")
    next_date: Scalar = Field(None, description="下次跟进时间（日期）：为负责人生成跟进任务")
    user: Scalar = Field(None, description="跟进人的用户名（须在您的数据范围内）；新记录留空则为令牌所属用户")


class OrderBulk(BaseModel):
    """批量同步订单。"""

    model_config = ConfigDict(extra="forbid")

    items: list[OrderIn] = Field(max_length=sync.MAX_ITEMS, description="订单，最多 10,000 项")
    partial: bool = Field(False, description="true：写入正确的项、报告有错误的项；false（默认）：任一项有错误则全部不写入（422）")


class FollowUpBulk(BaseModel):
    """批量同步跟进记录。"""

    model_config = ConfigDict(extra="forbid")

    items: list[FollowUpIn] = Field(max_length=sync.MAX_ITEMS, description="跟进记录，最多 10,000 项")
    partial: bool = Field(False, description="true：写入正确的项、报告有错误的项；false（默认）：任一项有错误则全部不写入（422）")


class BulkResult(BaseModel):
    """批量同步的结果。再次发送相同的请求不会改变任何数据（全部计为 unchanged）。"""

    model_config = ConfigDict(extra="forbid")

    items: int = Field(description="收到的项数")
    created: int = Field(description="新建的记录数")
    updated: int = Field(description="有字段变化而更新的记录数")
    unchanged: int = Field(description="与已存储的值相同、未写入的记录数")
    rejected: int = Field(description="有错误、未写入的项数（仅 partial 为 true 时可能大于 0）")
    written: bool = Field(description="本次是否写入了数据")
    batch_id: int | None = Field(description="记录本次写入的导入批次编号（可用 run.py import-undo 撤销）；未写入时为 null")
    errors: list[FieldError] = Field(description="每个有错误的字段：index（项的序号，从 0 开始）、field、value、message")


# --- reading ----------------------------------------------------------------------------------------------------

def _customer(who, code, policy_key):
    """The customer `code` in the caller's row scope, when the caller may view `policy_key` records; 404 / 403."""
    if not (who.can(policy_key, "view") and who.can("customer", "view")):
        raise ApiError(403, "forbidden", "您的角色没有查看" + ("订单" if policy_key == "order" else "跟进记录") + "的权限")
    code = inputs.path_text(code, "code")
    query = access.scope_query(Customer, Customer.select(Customer.id, Customer.code), who.user, who.grant)
    found = query.where(Customer.code == code).first()
    if found is None:
        raise ApiError(404, "not_found", "客户不存在或不在您的数据范围内")
    return found


@bp.get("/customers/<code>/orders")
@operation(summary="客户的订单", tags=["订单"], query=paging.PageQuery, responses={200: (OrderPage, "一页订单")},
           path={"code": "客户编号"}, description="按录入顺序分页（游标分页）。客服专员等角色看不到金额。")
def customer_orders(code):
    who = caller()
    customer = _customer(who, code, "order")
    limit = inputs.query_int("limit", 50, 1, 200)
    after = paging.decode(inputs.query_text("cursor"))
    rows, next_cursor = paging.page(Order.select().where(Order.customer == customer.id), Order.id, after, limit)
    items = []
    for order in rows:
        values = {name: columns.plain(getattr(order, name))
                  for name in ("order_no", "ordered_at", "amount", "quantity", "product", "channel")}
        items.append({"customer_code": customer.code, **columns.project(who.grant, "order", values)})
    return {"items": items, "next_cursor": next_cursor}


@bp.get("/customers/<code>/followups")
@operation(summary="客户的跟进记录", tags=["跟进记录"], query=paging.PageQuery, responses={200: (FollowUpPage, "一页跟进记录")},
           path={"code": "客户编号"}, description="按录入顺序分页（游标分页）。")
def customer_followups(code):
    who = caller()
    customer = _customer(who, code, "followup")
    limit = inputs.query_int("limit", 50, 1, 200)
    after = paging.decode(inputs.query_text("cursor"))
    rows, next_cursor = paging.page(FollowUp.select().where(FollowUp.customer == customer.id), FollowUp.id, after,
                                    limit)
    users = {u for u in (f.user_id for f in rows) if u is not None}
    names = dict(User.select(User.id, User.username).where(User.id.in_(list(users))).tuples()) if users else {}
    items = []
    for record in rows:
        values = {name: columns.plain(getattr(record, name))
                  for name in ("record_no", "at", "method", "content", "result", "next_date")}
        values["user"] = names.get(record.user_id)
        items.append({"customer_code": customer.code, **columns.project(who.grant, "followup", values)})
    return {"items": items, "next_cursor": next_cursor}


# --- bulk upsert ------------------------------------------------------------------------------------------------

def _bulk(kind):
    who = caller()
    body = inputs.json_object()
    errors = [{"field": name, "value": None, "message": f"未知字段：{name}（只接受 items 和 partial）"}
              for name in body if name not in ("items", "partial")]
    items = body.get("items")
    if not isinstance(items, list):
        errors.append({"field": "items", "value": None, "message": "items 必填，应为数组"})
    partial = body.get("partial", False)
    if not isinstance(partial, bool):
        errors.append({"field": "partial", "value": partial, "message": "partial 应为 true 或 false"})
    if errors:
        raise invalid(errors)
    try:
        result = sync.upsert(kind, items, who.user, who.token.name, partial=partial, ip=request.remote_addr,
                             source_key=trail.TOKEN_KEY)
    except sync.SyncRefused as refused:
        codes = {403: "forbidden", 409: "conflict", 413: "too_many_items", 422: "validation_failed"}
        errors = [{"index": e.index, "field": e.field, "value": e.value, "message": e.reason} for e in refused.errors]
        raise ApiError(refused.status, codes.get(refused.status), str(refused), errors=errors or None) from None
    errors = [{"index": e.index, "field": e.field, "value": e.value, "message": e.reason} for e in result.errors]
    if result.rejected and not partial:
        raise invalid(errors, f"{result.rejected:,} 项有错误，未写入任何数据：请按 errors 逐项改正后重新发送，"
                              f"或以 partial: true 只写入正确的项")
    answer = result.as_dict()
    answer.pop("partial")
    answer["errors"] = errors
    return answer


@bp.post("/orders/bulk")
@operation(summary="批量同步订单（按订单号新建或更新）", tags=["订单"], json=OrderBulk,
           responses={200: (BulkResult, "同步结果：各项计数；partial 时含有错误的项"), **BULK_ERRORS},
           description="一次最多 10,000 项，在一个事务中写入。每项按订单导入的规则清洗和校验，客户须在您的数据范围内；"
                       "对您的角色只读或隐藏的字段逐字段拒绝。默认任一项有错误则全部不写入，返回 422 并列出每个错误"
                       "（index、field、value、message）；partial 为 true 时写入正确的项，错误列在 200 的 errors 中。"
                       "再次发送相同的请求不改变任何数据。每条新建或修改的订单记入审计日志（含令牌名称）。")
def bulk_orders():
    return _bulk("orders")


@bp.post("/followups/bulk")
@operation(summary="批量同步跟进记录（按记录ID新建或更新）", tags=["跟进记录"], json=FollowUpBulk,
           responses={200: (BulkResult, "同步结果：各项计数；partial 时含有错误的项"), **BULK_ERRORS},
           description="规则与批量同步订单相同；下次跟进时间为负责人生成跟进任务，新的跟进记录关闭已有任务，"
                       "与导入跟进记录相同。")
def bulk_followups():
    return _bulk("followups")


__all__ = ["OrderOut", "FollowUpOut", "OrderPage", "FollowUpPage", "OrderBulk", "FollowUpBulk", "BulkResult"]
