"""Tags on a customer through the API: read them, add and take off manual tags.

    GET    /api/v1/customers/<code>/tags
    POST   /api/v1/customers/<code>/tags          {"tag": "价格敏感"}
    DELETE /api/v1/customers/<code>/tags/<name>

The same policy as the customer list's tags and 批量标签 (tagging.policy: `tagging` and `customertag`), the
customer in the caller's row scope.  Adding and taking off go through tagging.tag / tagging.untag for that one
customer: manual tags only (a rule tag is added and removed by its rule, never by hand), a retired tag cannot
be added, audited per customer (tag / untag) and per request (batch-tag / batch-untag, naming the token).
"""
from flask import request
from pydantic import BaseModel, ConfigDict, Field

import access
import tagging
from models import Customer

from . import bp, inputs
from .errors import ApiError, invalid
from .openapi import operation
from .tokens import caller

TAGS = ["客户标签"]


class CustomerTagOut(BaseModel):
    """客户的一个标签。"""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="标签名称")
    category: str = Field(description="标签类别：基本信息 / 行为 / 价值 / 偏好")
    source: str = Field(description="manual：手动添加；rule：由标签规则自动添加和移除（不能手动移除）")
    retired: bool = Field(description="标签是否已停用")


class CustomerTags(BaseModel):
    """客户的全部标签。"""

    model_config = ConfigDict(extra="forbid")

    customer_code: str = Field(description="客户编号")
    items: list[CustomerTagOut] = Field(description="标签，按类别排序")
    over_limit: bool = Field(description="标签超过 10 个时为 true：标签过多就失去了意义")


class TagIn(BaseModel):
    """要添加的手动标签。"""

    model_config = ConfigDict(extra="forbid")

    tag: str = Field(description="标签名称：标签库中的手动标签（未停用）")


def _customer(who, code):
    if not (tagging.may_see(who.grant) and who.can("customer", "view")):
        raise ApiError(403, "forbidden", "您的角色没有查看客户标签的权限")
    code = inputs.path_text(code, "code")
    query = access.scope_query(Customer, Customer.select(Customer.id, Customer.code), who.user, who.grant)
    found = query.where(Customer.code == code).first()
    if found is None:
        raise ApiError(404, "not_found", "客户不存在或不在您的数据范围内")
    return found


def _answer(customer):
    rows = tagging.tags_of([customer.id]).get(customer.id, [])
    items = [{"name": name, "category": category, "source": source, "retired": retired}
             for name, category, source, retired in rows]
    return {"customer_code": customer.code, "items": items, "over_limit": len(items) > tagging.LIMIT}


def _change(operation_name, code, name):
    who = caller()
    customer = _customer(who, code)
    if not tagging.may(who.grant, operation_name):
        verb = "添加" if operation_name == "tag" else "移除"
        raise ApiError(403, "forbidden", f"您的角色没有{verb}客户标签的权限")
    run = tagging.tag if operation_name == "tag" else tagging.untag
    try:
        run(name, who.user, ids=[customer.id], ip=request.remote_addr, criteria={"api_token": who.token.name})
    except tagging.Refused as refused:
        raise invalid([{"field": "tag", "value": name, "message": str(refused)}], str(refused)) from None
    return _answer(customer)


@bp.get("/customers/<code>/tags")
@operation(summary="客户的标签", tags=TAGS, responses={200: (CustomerTags, "客户的全部标签")}, path={"code": "客户编号"})
def customer_tags(code):
    return _answer(_customer(caller(), code))


@bp.post("/customers/<code>/tags")
@operation(summary="为客户添加手动标签", tags=TAGS, json=TagIn, responses={200: (CustomerTags, "添加后客户的全部标签")},
           path={"code": "客户编号"},
           description="只能添加标签库中未停用的手动标签；规则标签由标签规则自动添加。客户已有该标签时不做修改。记入审计日志。")
def add_customer_tag(code):
    body = inputs.json_object()
    name = body.get("tag")
    unknown = [key for key in body if key != "tag"]
    if not isinstance(name, str) or unknown:
        errors = [{"field": key, "message": f"未知字段：{key}"} for key in unknown]
        if not isinstance(name, str):
            errors.append({"field": "tag", "value": name, "message": "tag 必填，应为标签名称（文本）"})
        raise invalid(errors)
    return _change("tag", code, name)


@bp.delete("/customers/<code>/tags/<name>")
@operation(summary="移除客户的手动标签", tags=TAGS, responses={200: (CustomerTags, "移除后客户的全部标签")},
           path={"code": "客户编号", "name": "标签名称"},
           description="只能移除手动标签；规则标签由标签规则自动移除，手动移除会被拒绝（422）。客户没有该标签时不做修改。记入审计日志。")
def remove_customer_tag(code, name):
    return _change("untag", code, inputs.path_text(name, "name"))


__all__ = ["CustomerTags", "CustomerTagOut", "TagIn"]
