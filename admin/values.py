"""客户价值分析表: the value table (valuation) as a list with sort, filters and export, in the viewer's row scope.

The rows are computed by valuation.refresh (run.py refresh-values, the daily job value-refresh); nobody edits
them here.  Policy key "customervalue": view (also needs customer view), export; column rules decide the money
columns (hidden for 客服专员), which are then neither shown, sorted, filtered nor exported.
"""
from flask import url_for
from flask_admin.contrib.peewee.filters import FilterEqual
from markupsafe import Markup
from peewee import fn

import numberformat
import valuation
from models import Customer, CustomerValue
from models.values import TIER_CHOICES

from i18n import current_language

from . import searching
from .secured import PolicyModelView, current_grant

TIER_CLASSES = {"高价值客户": "tier-high", "潜力客户": "tier-potential", "普通客户": "tier-ordinary",
                "低价值客户": "tier-low"}


TEXT = {
    "zh": {
        "as_of": "数据日期", "refreshed": "刷新于",
        "method": "年度消费额与订单总笔数为截至数据日期的最近 {window} 天，LTV 为未来 {years} 年的预测价值"
                  "（BG/NBD + Gamma-Gamma 模型，月折现率 {rate:g}%）。",
        "rule": "客户分层按{basis}排名：{rule}；没有价值的客户为低价值客户。",
        "bases": {"ltv": "客户生命周期价值", "annual_spend": "年度消费额"},
        "unit": "位", "sep": "，", "total": "您的数据范围内共 {total} 位客户",
        "empty": "客户价值分析表尚未生成：由每日后台任务“value-refresh”生成，也可在命令行运行",
    },
    "en": {
        "as_of": "As of", "refreshed": "refreshed",
        "method": "Annual spend and orders cover the {window} days up to that day; LTV is the predicted value of "
                  "the next {years} years (BG/NBD + Gamma-Gamma, {rate:g}% monthly discount).",
        "rule": "Tiers rank customers by {basis}: {rule}; customers without a value are 低价值客户.",
        "bases": {"ltv": "lifetime value", "annual_spend": "annual spend"},
        "unit": "", "sep": "; ", "total": "{total} customers in your scope",
        "empty": "The customer value table has not been built yet: the daily job “value-refresh” builds it, or run",
    },
}


def money(value):
    """¥12,345.67 (numberformat, as every screen); — for no value."""
    return "—" if value is None else numberformat.money(value)


def _customer(model):
    return model.customer  # loaded for the whole page by attach_related (customer is a detail column)


def _code(view, context, model, name):
    customer = _customer(model)
    if current_grant().can("customer", "view"):
        return Markup('<a href="{}">{}</a>').format(url_for("customer.details_view", id=customer.id), customer.code)
    return customer.code


def _tier(view, context, model, name):
    return Markup('<span class="badge value-tier {}">{}</span>').format(TIER_CLASSES.get(model.tier, ""), model.tier)


def _time(value):
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


class CustomerValueView(PolicyModelView):
    policy_key = valuation.POLICY_KEY
    list_columns = ("code", "name", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at")
    # customer: so attach_related loads the page's customers in one query
    detail_columns = ("customer", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at", "as_of", "refreshed_at")
    export_columns = ("code", "name", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at", "as_of")
    form_fields = ()
    sortable_columns = ("annual_spend", "orders_12m", "ltv", "last_order_at")
    filter_columns = (
        ("tier", FilterEqual(CustomerValue.tier, "客户分层", options=TIER_CHOICES)),
        ("annual_spend", "annual_spend"),
        ("orders_12m", "orders_12m"),
        ("ltv", "ltv"),
        ("last_order_at", "last_order_at"),
    )
    search_kinds = {"customer": "customer"}  # by the customer's name (fragment) or code (prefix): search_condition
    # Highest value first (then 年度消费额, which orders the rows when there is no LTV); a grant that may not
    # see the money columns gets the latest orders first instead, so the order of rows tells nothing of them.
    MONEY_SORT = [("ltv", True), ("annual_spend", True)]
    PLAIN_SORT = [("last_order_at", True), ("id", False)]
    column_default_sort = MONEY_SORT
    list_template = "admin/values/list.html"
    details_template = "admin/values/details.html"
    can_view_details = True
    column_formatters = {
        "code": _code,
        "name": lambda view, context, model, name: _customer(model).name,
        "annual_spend": lambda view, context, model, name: money(model.annual_spend),
        "ltv": lambda view, context, model, name: money(model.ltv),
        "orders_12m": lambda view, context, model, name: numberformat.count(model.orders_12m),
        "tier": _tier,
        "last_order_at": lambda view, context, model, name: _time(model.last_order_at),
    }
    column_formatters_detail = {
        "customer": lambda view, context, model, name: str(_customer(model)),
        **{k: v for k, v in column_formatters.items() if k not in ("code", "name")},
    }
    # The export: plain numbers a spreadsheet can sum (the screens format them), no markup.
    column_formatters_export = {
        "code": lambda view, context, model, name: _customer(model).code,
        "name": lambda view, context, model, name: _customer(model).name,
        "annual_spend": lambda view, context, model, name: f"{model.annual_spend:.2f}",
        "ltv": lambda view, context, model, name: "" if model.ltv is None else f"{model.ltv:.2f}",
        "orders_12m": lambda view, context, model, name: str(model.orders_12m),
        "tier": lambda view, context, model, name: model.tier,
        "last_order_at": lambda view, context, model, name: _time(model.last_order_at),
        "as_of": lambda view, context, model, name: model.as_of.isoformat() if model.as_of else "",
    }

    def _configure(self, grant):
        super()._configure(grant)
        visible = (lambda c: True) if grant is None else (lambda c: grant.visible(self.policy_key, c))
        self.column_export_list = [c for c in self.export_columns if visible(c)]
        self.can_create = self.can_edit = self.can_delete = False  # computed rows: refreshed, never edited
        money_clear = grant is None or all(grant.clear(self.policy_key, c) for c in valuation.MONEY_COLUMNS)
        self.column_default_sort = self.MONEY_SORT if money_clear else self.PLAIN_SORT

    def grant_allows(self, grant):
        return valuation.may_view(grant)

    def search_placeholder(self):
        return "客户名称 / 客户编号"

    def search_condition(self, text):
        grant = current_grant()
        kinds = {"name": "fragment", "code": "prefix"}
        condition = None
        for term in searching.terms(text):
            part = searching.condition(Customer, kinds, term, lambda c: grant.clear("customer", c))
            if part is None:
                return CustomerValue.id.is_null()  # nothing may match
            part = CustomerValue.customer.in_(Customer.select(Customer.id).where(part))
            condition = part if condition is None else (condition & part)
        return condition

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["value_summary"] = self.summary()
        return super().render(template, **kwargs)

    def summary(self):
        """The latest refresh, its method and the customers per tier in the viewer's row scope (one GROUP BY),
        in the interface language."""
        counts = dict(self.get_query().select(CustomerValue.tier, fn.COUNT(CustomerValue.id))
                      .group_by(CustomerValue.tier).tuples())
        refresh = valuation.latest()
        text = TEXT[current_language()]
        summary = {"refresh": refresh, "text": text, "total": text["total"].format(total=f"{sum(counts.values()):,}"),
                   "tiers": [(tier, TIER_CLASSES[tier], f"{counts.get(tier, 0):,}") for tier in valuation.TIERS]}
        if refresh is not None:
            refreshing = valuation.refreshing
            summary["method"] = text["method"].format(window=refreshing.WINDOW_DAYS,
                                                      years=refreshing.HORIZON_MONTHS // 12,
                                                      rate=refreshing.DISCOUNT_RATE * 100)
            summary["rule"] = text["rule"].format(basis=text["bases"].get(refresh.basis, refresh.basis),
                                                  rule=text["sep"].join(valuation.tiers.describe()))
            summary["notes"] = (refresh.notes or "").splitlines()
        return summary
