"""The dashboard's cards, as a registry: name -> title, chart kind, the source it reads, how it shapes
that source's rows, and who may see it.  The page draws each card by its kind (one renderer per kind in
the browser); adding a card is one registration, never an if-chain:

    card("complaints", {"zh": "待处理投诉", "en": "Open complaints"}, "number", "complaints",
         shape=lambda n, ctx: {"value": n, "display": f"{n:,}", "note": "", "empty": False},
         allowed=lambda grant: grant.can("feedback", "view"), width=4)

Kinds and the data they take:
    number  {"value", "display", "note"}                      one figure
    stats   {"items": [{"key", "label", "value", "tone"}]}    a few figures side by side
    pie     {"items": [{"name", "value"}]}
    bar     {"labels": [...], "values": [...]}                horizontal bars
    line    {"labels": [...], "series": [{"name", "values", "money"}]}
    funnel  {"items": [{"name", "value"}], "note"}
    table   {"columns": [...], "numeric": [bool per column], "rows": [{"id", "cells": [...]}]}
Every card's data also says "empty" (nothing to draw yet), and the page then shows `empty` instead.
"""
from dataclasses import dataclass, field
from typing import Callable

import numberformat
import pipeline
import reminders
import valuation
from models.customers import STATUSES
from reminders.listing import UPCOMING_DAYS

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
    link: str = None  # endpoint of the screen with the detail (the page links the title where it exists)


CARDS = {}


def card(key, title, kind, source, shape, allowed, **options):
    CARDS[key] = Card(key, title, kind, source, shape, allowed, **options)
    return CARDS[key]


def unregister(key):
    CARDS.pop(key, None)


def money(value):
    """1234567.5 -> '¥1,234,567.50' (numberformat, as every screen)."""
    return numberformat.money(value)


def count(value):
    return numberformat.count(value)


def _words(ctx, zh, en):
    return zh if ctx.language == "zh" else en


# --- from the customers source --------------------------------------------------------------------------
STATUS_ORDER = [value for value, _ in STATUSES]


def status_counts(figures):
    counts = {}
    for status, _industry, n in figures.mix:
        counts[status] = counts.get(status, 0) + n
    order = STATUS_ORDER + sorted(s for s in counts if s not in STATUS_ORDER)
    return [(status, counts.get(status, 0)) for status in order]


def _by_status(rows, ctx):
    items = [{"name": status, "value": n} for status, n in status_counts(rows)]
    total = sum(item["value"] for item in items)
    return {"items": items, "total": total, "empty": total == 0,
            "note": _words(ctx, f"共 {count(total)} 位客户", f"{count(total)} customers in all")}


def _new_customers(figures, ctx):
    new, month = figures.new, figures.month
    label = ctx.period.label[ctx.language]
    if ctx.language == "zh":
        note = f"{label}新建的客户" + ("" if ctx.period.key == "month" else f"；其中本月 {count(month)} 位")
    else:
        note = f"created in: {label.lower()}" + ("" if ctx.period.key == "month" else f"; this month {count(month)}")
    return {"value": new, "display": count(new), "month": month, "note": note, "empty": False}


def _industries(figures, ctx):
    counts = {}
    for _status, industry, n in figures.mix:
        name = industry or _words(ctx, "未填写", "not given")
        counts[name] = counts.get(name, 0) + n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    items = [{"name": name, "value": n} for name, n in ranked[:INDUSTRY_SLICES]]
    rest = sum(n for _name, n in ranked[INDUSTRY_SLICES:])
    if rest:
        items.append({"name": _words(ctx, "其他", "other"), "value": rest})
    return {"items": items, "empty": not items}


def _funnel(numbers, ctx):
    """dashboard.figures.FunnelFigures of the period: its cohort (entered 潜在 in the period) and how far it got."""
    items = [{"name": name, "value": value} for name, value in numbers.chart]
    lost = numbers.lost
    rate = "—" if numbers.rate is None else f"{numbers.rate:.1%}"
    note = (f"所选期间新进入潜在阶段的客户及其到期末的进展；潜在→成交 {rate}；期末流失客户 {count(lost)} 位"
            if ctx.language == "zh" else
            f"customers who entered 潜在 in the period and how far they got; 潜在→成交 {rate}; lost at the end: {count(lost)}")
    return {"items": items, "lost": lost, "rate": numbers.rate, "note": note, "empty": not any(i["value"] for i in items)}


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
    return {"columns": columns, "numeric": [False, False, True, True], "empty": not rows,
            "rows": [{"id": cid, "cells": [code, name, money(amount), count(n)], "value": amount}
                     for cid, code, name, amount, n in rows]}


def _tasks(numbers, ctx):
    """reminders.Counts of the scope's open tasks (follow-up plans and reminder rules)."""
    items = [{"key": "overdue", "label": _words(ctx, "已逾期", "Overdue"), "value": numbers.overdue, "tone": "danger"},
             {"key": "today", "label": _words(ctx, "今天到期", "Due today"), "value": numbers.due_today, "tone": "warning"},
             {"key": "upcoming", "label": _words(ctx, f"{UPCOMING_DAYS}天内到期", f"Next {UPCOMING_DAYS} days"),
              "value": numbers.upcoming, "tone": "info"}]
    return {"items": items, "empty": False,
            "note": _words(ctx, "未完成的跟进任务（下次跟进时间和提醒规则）；记录跟进即完成",
                           "open tasks (next follow-up dates and reminder rules); recording the follow-up closes one")}


def _values(rows, ctx):
    """valuation.top rows; 年度消费额 and LTV only when the grant shows them (valuation leaves them out)."""
    shown = [key for key in ("ltv", "annual_spend") if rows and key in rows[0]]
    names = {"ltv": _words(ctx, "生命周期价值", "LTV"), "annual_spend": _words(ctx, "年度消费额", "Annual spend")}
    columns = ([_words(ctx, "客户编号", "Code"), _words(ctx, "客户名称", "Name"), _words(ctx, "客户分层", "Tier")]
               + [names[key] for key in shown] + [_words(ctx, "近12个月订单", "Orders (12 months)")])
    table = []
    for row in rows:
        money_cells = [("—" if row[key] is None else money(float(row[key]))) for key in shown]
        table.append({"id": row["customer_id"],
                      "cells": [row["code"], row["name"], row["tier"]] + money_cells + [count(row["orders_12m"])]})
    as_of = rows[0]["as_of"].isoformat() if rows else None
    return {"columns": columns, "numeric": [False, False, False] + [True] * len(shown) + [True], "rows": table,
            "empty": not rows, "as_of": as_of,
            "note": _words(ctx, f"按客户价值分析表（{as_of} 刷新）", f"from the value table (refreshed {as_of})") if rows else ""}


def _rule_tags(rows, ctx):
    ranked = sorted(rows, key=lambda row: (-row[1], row[0]))
    return {"labels": [name for name, _n in ranked], "values": [n for _name, n in ranked], "empty": not rows}


card("new_customers", {"zh": "新增客户", "en": "New customers"}, "number", "customers", _new_customers,
     policy.sees_customers, width=4, period=True)
card("sales_total", {"zh": "销售额", "en": "Sales"}, "number", "orders", _sales, policy.sees_money, width=4,
     money=True, period=True)
card("tasks_due", {"zh": "待办任务", "en": "Tasks due"}, "stats", "tasks", _tasks, reminders.may_view_tasks,
     width=4, link="tasks.index")
card("sales_trend", {"zh": "销售趋势", "en": "Sales trend"}, "line", "orders", _trend, policy.sees_money, width=8,
     money=True, period=True, empty={"zh": "所选期间还没有订单", "en": "No orders in this period yet"})
card("customers_by_status", {"zh": "客户状态分布", "en": "Customers by status"}, "pie", "customers", _by_status,
     lambda grant: policy.sees_customers(grant, "status"), width=4,
     empty={"zh": "还没有客户", "en": "No customers yet"})
card("funnel", {"zh": "销售漏斗", "en": "Sales funnel"}, "funnel", "funnel", _funnel,
     lambda grant: pipeline.may_view_funnel(grant) and policy.sees_customers(grant, "status"), width=4, period=True,
     link="funnel.index",
     empty={"zh": "所选期间没有新进入潜在阶段的客户", "en": "No customer entered the funnel in this period"})
card("industry_mix", {"zh": "行业分布", "en": "Industry mix"}, "pie", "customers", _industries,
     lambda grant: policy.sees_customers(grant, "industry"), width=4,
     empty={"zh": "还没有客户", "en": "No customers yet"})
card("rule_tags", {"zh": "规则标签客户数", "en": "Customers per rule tag"}, "bar", "rule_tags", _rule_tags,
     policy.sees_tags, width=4,
     empty={"zh": "还没有规则标签（基础数据 → 标签规则）", "en": "No rule tags yet (Reference data → Tag rules)"})
card("top_customers", {"zh": "客户订单金额排行", "en": "Top customers by order total"}, "table", "top", _top,
     policy.sees_top_customers, width=6, money=True, period=True,
     empty={"zh": "所选期间还没有订单", "en": "No orders in this period yet"})
card("top_values", {"zh": "高价值客户", "en": "Top customers by value"}, "table", "values", _values,
     valuation.may_view, width=6, link="customervalue.index_view",
     empty={"zh": "客户价值表还没有刷新（每日自动刷新，或 run.py refresh-values）",
            "en": "The value table has not been refreshed yet (daily, or run.py refresh-values)"})
