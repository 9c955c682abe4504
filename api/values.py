"""A customer's row of the value table (客户价值分析表) through the API.

    GET /api/v1/customers/<code>/value

The same policy as the screen (valuation.policy, key `customervalue`, and `customer` view), the customer in the
caller's row scope, the columns as the grant shows them: the money columns 年度消费额 and LTV are absent for a role
they are hidden from (客服专员 by default).  The row is computed by the value refresh, never written here.
"""

from pydantic import BaseModel, ConfigDict, Field

import access
from models import Customer, CustomerValue
from valuation import policy

from . import bp, columns, inputs
from .errors import ApiError
from .openapi import operation
from .tokens import caller

HIDDEN_NOTE = "；该字段被您的角色隐藏时不出现（客服专员看不到金额）"


class CustomerValueOut(BaseModel):
    """客户价值分析表中该客户的一行（由每日的价值刷新计算）。"""

    model_config = ConfigDict(extra="forbid")

    customer_code: str = Field(description="客户编号")
    annual_spend: str | None = Field(None, description="年度消费额（近 365 天），两位小数的文本" + HIDDEN_NOTE)
    orders_12m: int | str | None = Field(None, description="订单总笔数（近 365 天）；脱敏时为脱敏文本")
    ltv: str | None = Field(None, description="客户生命周期价值 LTV（3 年 CLV），两位小数的文本；模型无法估计时为 null"
                                              + HIDDEN_NOTE)
    tier: str | None = Field(None, description="客户分层：高价值客户 / 潜力客户 / 普通客户 / 低价值客户")
    last_order_at: str | None = Field(None, description="最后下单时间，YYYY-MM-DDTHH:MM:SS；没有订单为 null")
    as_of: str | None = Field(None, description="计算所依据的日期，YYYY-MM-DD")
    refreshed_at: str | None = Field(None, description="计算时间，YYYY-MM-DDTHH:MM:SS")


@bp.get("/customers/<code>/value")
@operation(summary="客户的价值分析行", tags=["客户价值"], responses={200: (CustomerValueOut, "该客户的价值分析行")}, path={"code": "客户编号"},
           description="客户价值分析表中该客户的一行。尚未计算（价值刷新还没有运行过）时为 404。")
def customer_value(code):
    who = caller()
    if not policy.may_view(who.grant):
        raise ApiError(403, "forbidden", "您的角色没有查看客户价值分析表的权限")
    code = inputs.path_text(code, "code")
    query = access.scope_query(Customer, Customer.select(Customer.id, Customer.code), who.user, who.grant)
    customer = query.where(Customer.code == code).first()
    if customer is None:
        raise ApiError(404, "not_found", "客户不存在或不在您的数据范围内")
    row = CustomerValue.get_or_none(CustomerValue.customer == customer.id)
    if row is None:
        raise ApiError(404, "not_computed", "该客户的价值尚未计算：请等待每日价值刷新（或运行 run.py refresh-values）")
    values = {name: columns.plain(getattr(row, name)) for name in policy.COLUMNS if name != "customer"}
    return {"customer_code": customer.code, **columns.project(who.grant, policy.POLICY_KEY, values)}


__all__ = ["CustomerValueOut"]
