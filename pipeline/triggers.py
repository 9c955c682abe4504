"""The registry of trigger kinds: what makes a transition fire, as set-based SQL for a day.

Each kind gives, for a transition and a day, a SELECT of candidate firings `(customer_id, source_id, at)`:

- `source_id` names the record that caused it, part of the event's unique key: the follow-up for
  follow-up triggers; for status triggers the customer's latest status change (0 if none), so a customer
  who comes back to the same status later can fire again, but one status never fires twice;
- `at` is when it happened in business time: the first order, the day the N days ran out, the follow-up.
  It becomes the status change's time, so the history (and the funnel read from it) is right even when a
  sweep runs days later.

"Entered the current status" is the latest status change to it made by a decision (from_status set, so not
the record that created the customer); orders and follow-ups dated before it do not count, so a manual
change is not undone by older records.  Register a new kind with `register(Trigger(...))`.
"""
import datetime
import json
from dataclasses import dataclass, field
from typing import Callable

from models.activity import FOLLOW_RESULTS

from .sql import Sql, day_plus, in_list, param, within

EPOCH = "1900-01-01 00:00:00"


class Invalid(ValueError):
    """Parameters or a transition that cannot be used; the message is for the person who typed them."""


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: str  # days / results
    default: object
    low: int = 1
    high: int = 3650


@dataclass(frozen=True)
class Trigger:
    kind: str
    label: str
    target: str  # status / tag: what the transition may do
    params: tuple = ()
    candidates: Callable = field(repr=False, compare=False, default=None)  # (transition, ctx) -> Sql
    describe: Callable = field(repr=False, compare=False, default=None)  # params -> Chinese text
    help: str = ""


TRIGGERS = {}


def register(trigger):
    TRIGGERS[trigger.kind] = trigger
    return trigger


def get(kind):
    try:
        return TRIGGERS[kind]
    except KeyError:
        raise Invalid(f"未知的触发条件“{str(kind)[:30]}”，可选：{'、'.join(t.label for t in TRIGGERS.values())}") from None


def available():
    return list(TRIGGERS.values())


def parse_params(trigger, text):
    """The transition's params as a dict with every param of its kind, checked; raises Invalid."""
    raw = {}
    if isinstance(text, dict):
        raw = dict(text)
    elif (text or "").strip():
        try:
            raw = json.loads(text)
        except ValueError:
            raise Invalid("参数应为 JSON，例如 {\"days\": 180}") from None
        if not isinstance(raw, dict):
            raise Invalid("参数应为 JSON 对象，例如 {\"days\": 180}")
    known = {p.name: p for p in trigger.params}
    unknown = [k for k in raw if k not in known]
    if unknown:
        allowed = "、".join(known) or "无"
        raise Invalid(f"“{trigger.label}”没有参数“{str(unknown[0])[:30]}”（可用：{allowed}）")
    out = {}
    for p in trigger.params:
        v = raw.get(p.name, p.default)
        if p.kind == "days":
            if isinstance(v, bool) or not isinstance(v, (int, float, str)) or not str(v).strip().isdigit():
                raise Invalid(f"{p.label}应为 {p.low} 到 {p.high} 之间的整数天数")
            v = int(str(v).strip())
            if not p.low <= v <= p.high:
                raise Invalid(f"{p.label}应为 {p.low} 到 {p.high} 之间的整数天数，收到 {v}")
        elif p.kind == "results":
            values = v if isinstance(v, list) else [s for s in str(v).replace("，", ",").split(",")]
            values = [str(s).strip() for s in values if str(s).strip()]
            known_results = [r for r, _ in FOLLOW_RESULTS]
            bad = [s for s in values if s not in known_results]
            if not values or bad:
                raise Invalid(f"{p.label}应为跟进结果中的一个或几个（{'、'.join(known_results)}）"
                              + (f"，“{bad[0][:20]}”不是" if bad else ""))
            v = values
        out[p.name] = v
    return out


# --- the SQL the kinds share ---------------------------------------------------------------------

def _latest_change():
    return "COALESCE((SELECT MAX(sc.id) FROM status_change sc WHERE sc.customer_id = c.id), 0)"


def _entered_any():
    """When the customer entered their current status (the creation record counts), else created_at."""
    return ("COALESCE((SELECT MAX(sc.at) FROM status_change sc WHERE sc.customer_id = c.id "
            "AND sc.to_status = c.status), c.created_at)")


def _entered_by_decision():
    """When a decision (not the customer's creation) put the customer in their current status; EPOCH if never."""
    return ("COALESCE((SELECT MAX(sc.at) FROM status_change sc WHERE sc.customer_id = c.id "
            f"AND sc.to_status = c.status AND sc.from_status IS NOT NULL), '{EPOCH}')")


def customer_filter(transition, ctx):
    """WHERE over `customer c`: the from-statuses, not already in the target status, and the customers asked."""
    where = Sql("1 = 1")
    statuses = transition.statuses()
    if statuses:
        where += Sql(" AND c.status IN ") + in_list(statuses)
    if transition.to_status:
        where += Sql(" AND c.status <> ") + param(transition.to_status)
    if ctx.within is not None:
        where += within("c.id", ctx.within)
    return where


# --- the kinds -----------------------------------------------------------------------------------

def _first_order(transition, ctx):
    # the first order since the customer entered their status, no earlier than that entry (the history reads
    # in order even when the order was entered before the customer was)
    inner = (Sql(f"SELECT c.id AS id, {_latest_change()} AS source_id, {_entered_any()} AS base, "
                 "(SELECT MIN(o.ordered_at) FROM orders o WHERE o.customer_id = c.id AND o.ordered_at < ")
             + param(ctx.day_end) + f" AND o.ordered_at >= {_entered_by_decision()}) AS first_at "
             + "FROM customer c WHERE " + customer_filter(transition, ctx)
             # customers without any order (most leads) are passed over before the per-customer lookups
             + " AND EXISTS (SELECT 1 FROM orders x WHERE x.customer_id = c.id AND x.ordered_at < " + param(ctx.day_end)
             + ")")
    return ("SELECT t.id, t.source_id, CASE WHEN t.first_at > t.base THEN t.first_at ELSE t.base END FROM ("
            + inner + ") t WHERE t.first_at IS NOT NULL")


def _no_order(transition, ctx):
    days = ctx.params["days"]
    inner = (Sql(f"SELECT c.id AS id, {_latest_change()} AS source_id, {_entered_any()} AS base, "
                 "(SELECT MAX(o.ordered_at) FROM orders o WHERE o.customer_id = c.id AND o.ordered_at < ")
             + param(ctx.day_end) + ") AS last_order FROM customer c WHERE " + customer_filter(transition, ctx))
    middle = ("SELECT t.id, t.source_id, CASE WHEN t.last_order IS NULL OR t.base > t.last_order "
              "THEN t.base ELSE t.last_order END AS ref FROM (" + inner + ") t")
    # the day the days ran out: ref's day + N <= as_of, i.e. ref < the start of (as_of - N + 1)
    cutoff = ctx.day_end - datetime.timedelta(days=days)
    return (f"SELECT u.id, u.source_id, {day_plus('u.ref', days)} FROM (" + middle + ") u WHERE u.ref < "
            + param(cutoff))


def _follow_up_result(transition, ctx):
    results = ctx.params["results"]
    return (Sql("SELECT f.customer_id, f.id, f.at FROM customer c JOIN follow_up f ON f.customer_id = c.id "
                "WHERE f.result IN ") + in_list(results) + " AND f.at < " + param(ctx.day_end)
            + f" AND f.at >= {_entered_by_decision()} AND " + customer_filter(transition, ctx))


register(Trigger(
    "first_order", "首次下单", "status", (), _first_order,
    lambda params: "进入当前状态后有了订单",
    help="客户进入当前状态（新建客户不算）之后第一次下单；变更时间取该订单的下单时间。"))
register(Trigger(
    "no_order", "N天未下单", "status", (Param("days", "天数", "days", 180),), _no_order,
    lambda params: f"进入当前状态后 {params['days']} 天没有下单",
    help="距最后一次下单（或进入当前状态，取较晚者）满 N 天；变更时间取满 N 天的那一天。"))
register(Trigger(
    "followup_result", "跟进结果", "tag", (Param("results", "跟进结果", "results", ["已报价"]),), _follow_up_result,
    lambda params: f"跟进结果为{'或'.join('“' + r + '”' for r in params['results'])}",
    help="进入当前状态后的一条跟进记录的结果是所列之一（例如已报价）；每条跟进记录只触发一次。"
         "客户离开“从状态”（例如成交或流失）时，标签自动移除。"))
