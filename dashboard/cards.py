"""The dashboard's cards, as a registry: name -> title, chart kind, the source it reads, how it shapes
that source's rows, and who may see it.  The page draws each card by its kind (one renderer per kind in
the browser); adding a card is one registration, never an if-chain:

    card("overdue_list", {"zh": "逾期任务", "en": "Overdue tasks"}, "table", "tasks",
         shape=lambda rows, ctx: {...}, allowed=policy.sees_followups, width=6)

Kinds and the data they take:
    number  {"value", "display", "note"}                      one figure
    stats   {"items": [{"key", "label", "value", "tone"}]}    a few figures side by side
    pie     {"items": [{"name", "value"}]}
    bar     {"labels": [...], "values": [...]}                horizontal bars
    line    {"labels": [...], "series": [{"name", "values", "money"}]}
    funnel  {"items": [{"name", "value"}], "note"}
    table   {"columns": [...], "rows": [{"id", "cells": [...]}]}
Every card's data also says "empty" (nothing to draw yet), and the page then shows `empty` instead.
"""
from dataclasses import dataclass, field
from typing import Callable

from models.customers import STATUSES

from . import policy

INDUSTRY_SLICES = 8  # the largest industries by name, the rest as 其他


@dataclass(frozen=True)
class Card:
    key: str
    title: dict  # language -> title
    kind: str
    source: str  # a name of dashboard.sources.SOURCES
    shape: Callable = field(repr=False)  # shape(rows, ctx) -> the kind's data
    allowed: Callable = field(repr=False)  # allowed(grant) -> bool
    empty: dict = field(default_factory=lambda: {"zh": "暂无数据", "en": "No data yet"})
    width: int = 6  # of 12 grid columns
    money: bool = False
    period: bool = False  # does the period selector change it?


CARDS = {}


def card(key, title, kind, source, shape, allowed, **options):
    CARDS[key] = Card(key, title, kind, source, shape, allowed, **options)
    return CARDS[key]


def unregister(key):
    CARDS.pop(key, None)


def money(value):
    """1234567.5 -> '¥1,234,567.50'."""
    return f"¥{value:,.2f}"


def count(value):
    return f"{value:,}"


def _words(ctx, zh, en):
    return zh if ctx.language == "zh" else en


# --- from the customers source --------------------------------------------------------------------------
STATUS_ORDER = [value for value, _ in STATUSES]


def status_counts(rows):
    counts = {}
    for status, _industry, n, _new, _month in rows:
        counts[status] = counts.get(status, 0) + n
    order = STATUS_ORDER + sorted(s for s in counts if s not in STATUS_ORDER)
    return [(status, counts.get(status, 0)) for status in order]


def _by_status(rows, ctx):
    items = [{"name": status, "value": n} for status, n in status_counts(rows)]
    total = sum(item["value"] for item in items)
    return {"items": items, "total": total, "empty": total == 0,
            "note": _words(ctx, f"共 {count(total)} 位客户", f"{count(total)} customers in all")}


def _new_customers(rows, ctx):
    new = sum(r[3] for r in rows)
    month = sum(r[4] for r in rows)
    label = ctx.period.label[ctx.language]
    note = (f"{label}新建的客户；其中本月 {count(month)} 位" if ctx.language == "zh"
            else f"created in: {label.lower()}; this month {count(month)}")
    return {"value": new, "display": count(new), "month": month, "note": note, "empty": False}


def _industries(rows, ctx):
    counts = {}
    for _status, industry, n, _new, _month in rows:
        name = industry or _words(ctx, "未填写", "not given")
        counts[name] = counts.get(name, 0) + n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    items = [{"name": name, "value": n} for name, n in ranked[:INDUSTRY_SLICES]]
    rest = sum(n for _name, n in ranked[INDUSTRY_SLICES:])
    if rest:
        items.append({"name": _words(ctx, "其他", "other"), "value": rest})
    return {"items": items, "empty": not items}


FUNNEL_STAGES = ("潜在客户", "意向客户", "成交客户")


def _funnel(rows, ctx):
    """Customers per stage as they stand now (潜在 → 意向 → 成交), 流失 beside it."""
    counts = dict(status_counts(rows))
    items = [{"name": stage, "value": counts.get(stage, 0)} for stage in FUNNEL_STAGES]
    lost = counts.get("流失客户", 0)
    return {"items": items, "lost": lost, "empty": not any(item["value"] for item in items) and not lost,
            "note": _words(ctx, f"流失客户 {count(lost)} 位（不计入漏斗）", f"lost: {count(lost)} (not in the funnel)")}


# --- from the orders source -----------------------------------------------------------------------------
def _trend(data, ctx):
    labels = ctx.period.buckets()
    totals = [round(data.get(b, (0, 0))[0], 2) for b in labels]
    orders = [data.get(b, (0, 0))[1] for b in labels]
    return {"labels": labels, "empty": not any(orders),
            "series": [{"name": _words(ctx, "销售额", "Sales"), "values": totals, "money": True},
                       {"name": _words(ctx, "订单数", "Orders"), "values": orders, "money": False}]}


def _sales(data, ctx):
    total = round(sum(t for t, _n in data.values()), 2)
    orders = sum(n for _t, n in data.values())
    label = ctx.period.label[ctx.language]
    return {"value": total, "display": money(total), "orders": orders, "empty": False,
            "note": _words(ctx, f"{label}共 {count(orders)} 笔订单", f"{count(orders)} orders, {label.lower()}")}


# --- the rest -------------------------------------------------------------------------------------------
def _top(rows, ctx):
    columns = [_words(ctx, "客户编号", "Code"), _words(ctx, "客户名称", "Name"),
               _words(ctx, "订单金额", "Order total"), _words(ctx, "订单数", "Orders")]
    return {"columns": columns, "empty": not rows,
            "rows": [{"id": cid, "cells": [code, name, money(amount), count(n)], "value": amount}
                     for cid, code, name, amount, n in rows]}


def _followups(numbers, ctx):
    overdue, due, upcoming = numbers
    items = [{"key": "overdue", "label": _words(ctx, "已逾期", "Overdue"), "value": overdue, "tone": "danger"},
             {"key": "today", "label": _words(ctx, "今天到期", "Due today"), "value": due, "tone": "warning"},
             {"key": "upcoming", "label": _words(ctx, "7天内到期", "Next 7 days"), "value": upcoming, "tone": "info"}]
    return {"items": items, "empty": False,
            "note": _words(ctx, "按跟进记录的下次跟进时间；记录了下一次跟进即算完成",
                           "by the follow-ups' next date; recording the next follow-up closes one")}


def _rule_tags(rows, ctx):
    ranked = sorted(rows, key=lambda row: (-row[1], row[0]))
    return {"labels": [name for name, _n in ranked], "values": [n for _name, n in ranked], "empty": not rows}


card("new_customers", {"zh": "新增客户", "en": "New customers"}, "number", "customers", _new_customers,
     policy.sees_customers, width=4, period=True)
card("sales_total", {"zh": "销售额", "en": "Sales"}, "number", "orders", _sales, policy.sees_money, width=4,
     money=True, period=True)
card("followups_due", {"zh": "待跟进", "en": "Follow-ups due"}, "stats", "followups", _followups,
     policy.sees_followups, width=4)
card("sales_trend", {"zh": "销售趋势", "en": "Sales trend"}, "line", "orders", _trend, policy.sees_money, width=8,
     money=True, period=True, empty={"zh": "所选期间还没有订单", "en": "No orders in this period yet"})
card("customers_by_status", {"zh": "客户状态分布", "en": "Customers by status"}, "pie", "customers", _by_status,
     lambda grant: policy.sees_customers(grant, "status"), width=4,
     empty={"zh": "还没有客户", "en": "No customers yet"})
card("funnel", {"zh": "销售漏斗", "en": "Sales funnel"}, "funnel", "customers", _funnel,
     lambda grant: policy.sees_customers(grant, "status"), width=4,
     empty={"zh": "还没有客户", "en": "No customers yet"})
card("industry_mix", {"zh": "行业分布", "en": "Industry mix"}, "pie", "customers", _industries,
     lambda grant: policy.sees_customers(grant, "industry"), width=4,
     empty={"zh": "还没有客户", "en": "No customers yet"})
card("rule_tags", {"zh": "规则标签客户数", "en": "Customers per rule tag"}, "bar", "rule_tags", _rule_tags,
     policy.sees_tags, width=4,
     empty={"zh": "还没有规则标签（基础数据 → 标签规则）", "en": "No rule tags yet (Reference data → Tag rules)"})
card("top_customers", {"zh": "客户订单金额排行", "en": "Top customers by order total"}, "table", "top", _top,
     policy.sees_top_customers, width=12, money=True, period=True,
     empty={"zh": "所选期间还没有订单", "en": "No orders in this period yet"})
