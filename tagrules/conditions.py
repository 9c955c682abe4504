"""Rule conditions: a small tree of comparisons over the metrics of the registry (tagrules.metrics).

    {"all": [{"metric": "days_since_order", "op": ">=", "value": 60},
             {"metric": "days_since_followup", "op": ">=", "value": 60}]}
    {"any": [...]}                                            # either group nests, up to MAX_DEPTH
    {"metric": "order_total", "days": 365, "op": ">=", "value": 100000}   # days: N of "the last N days"

parse() checks a tree (text or already decoded) and returns it normalised, or raises Invalid with a
Chinese message for the person editing it; compile() turns a checked tree into one condition on
Customer.id for a given day; describe() reads it back in Chinese.
"""
import json
from decimal import Decimal, InvalidOperation

from . import metrics

MAX_DEPTH = 4
MAX_COMPARISONS = 20
MAX_TEXT = 4000
GROUPS = {"all": "全部满足", "any": "任一满足"}


class Invalid(ValueError):
    """A condition that cannot be used; the message says why, in Chinese."""


def parse(value):
    """The normalised tree of `value` (JSON text or a dict), or Invalid."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise Invalid(f"条件过长：最多 {MAX_TEXT} 个字符")
        if not value.strip():
            raise Invalid("请填写条件")
        try:
            value = json.loads(value)
        except ValueError as error:
            raise Invalid(f"条件格式无效：不是合法的 JSON（第 {getattr(error, 'lineno', '?')} 行，"
                          f"第 {getattr(error, 'colno', '?')} 列）") from None
    counter = [0]
    tree = _node(value, 1, counter, "条件")
    if "metric" in tree:  # a single comparison is a group of one
        tree = {"all": [tree]}
    return tree


def dumps(tree):
    return json.dumps(tree, ensure_ascii=False, indent=2)


def _node(node, depth, counter, where):
    if not isinstance(node, dict):
        raise Invalid(f"条件格式无效：{where}应为对象，例如 {{\"all\": [...]}} 或 {{\"metric\": ..., \"op\": ..., \"value\": ...}}")
    groups = [key for key in GROUPS if key in node]
    if groups:
        if len(node) != 1:
            raise Invalid(f"条件格式无效：{where}只能有一个键 all 或 any")
        key = groups[0]
        children = node[key]
        if not isinstance(children, list) or not children:
            raise Invalid(f"条件格式无效：{where}的 {key} 应为非空列表")
        if depth >= MAX_DEPTH:
            raise Invalid(f"条件嵌套过深：最多 {MAX_DEPTH} 层")
        return {key: [_node(child, depth + 1, counter, f"{where}第 {i} 项") for i, child in enumerate(children, 1)]}
    if "metric" in node:
        counter[0] += 1
        if counter[0] > MAX_COMPARISONS:
            raise Invalid(f"条件过多：最多 {MAX_COMPARISONS} 个比较")
        return comparison(node, where)
    raise Invalid(f"条件格式无效：{where}应包含 all、any 或 metric")


def comparison(node, where="条件"):
    """A checked comparison {"metric", "op", "value"[, "days"]}."""
    unknown = set(node) - {"metric", "op", "value", "days"}
    if unknown:
        raise Invalid(f"条件格式无效：{where}有未知的键 {', '.join(sorted(map(str, unknown)))}")
    name = node.get("metric")
    metric = metrics.get(name) if isinstance(name, str) else None
    if metric is None:
        known = "、".join(m.name for m in metrics.available())
        raise Invalid(f"未知的指标“{str(name)[:40]}”；可用的指标：{known}")
    op = node.get("op")
    if op not in metric.ops:
        allowed = " ".join(metric.ops)
        raise Invalid(f"指标“{metric.label}”不能使用运算符“{str(op)[:10]}”；可用：{allowed}")
    out = {"metric": metric.name, "op": op}
    if metric.window:
        days = node.get("days", metric.window)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= metrics.MAX_DAYS:
            raise Invalid(f"指标“{metric.label}”的天数 N 必须是 1 到 {metrics.MAX_DAYS} 之间的整数，而不是“{str(days)[:20]}”")
        out["days"] = days
    elif "days" in node:
        raise Invalid(f"指标“{metric.label}”没有天数 N，请删除 days")
    out["value"] = _value(metric, op, node.get("value"))
    return out


def _value(metric, op, value):
    if metric.kind == "choice":
        values = value if isinstance(value, list) else [value]
        if op in ("in", "not_in") and not isinstance(value, list):
            raise Invalid(f"指标“{metric.label}”使用“{metrics.OP_LABELS[op]}”时，值应为列表，例如 [\"华北\", \"华东\"]")
        if op in ("=", "!=") and isinstance(value, list):
            raise Invalid(f"指标“{metric.label}”使用“{metrics.OP_LABELS[op]}”时，值应为一个选项")
        if not values or any(not isinstance(v, str) or not v.strip() for v in values):
            raise Invalid(f"指标“{metric.label}”的值应为文字选项")
        allowed = metric.choices() if metric.choices else None
        for v in values:
            if allowed is not None and v.strip() not in allowed:
                raise Invalid(f"“{v[:40]}”不是{metric.label}的选项；可选：{'、'.join(allowed)}")
        cleaned = [v.strip() for v in values]
        return cleaned if isinstance(value, list) else cleaned[0]
    if isinstance(value, bool) or value is None:
        raise Invalid(f"指标“{metric.label}”的值必须是数字")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(f"指标“{metric.label}”的值必须是数字，而不是“{str(value)[:20]}”") from None
    if not number.is_finite():
        raise Invalid(f"指标“{metric.label}”的值必须是数字")
    if number < 0:
        raise Invalid(f"指标“{metric.label}”的值不能为负数")
    if metric.kind == "days" or metric.name.endswith("_count"):
        if number != number.to_integral_value():
            raise Invalid(f"指标“{metric.label}”的值必须是整数")
        if metric.kind == "days" and number > 100000:
            raise Invalid(f"指标“{metric.label}”的值过大")
        return int(number)
    if abs(number) >= Decimal("1e15"):
        raise Invalid(f"指标“{metric.label}”的值过大")
    return int(number) if number == number.to_integral_value() else float(number)


def compile(tree, day, figures=None):
    """One condition on Customer.id: the customers the (checked) tree matches on `day` (metrics.Day).  With
    `figures` (tagrules.figures.Figures, joined on Customer.id by the caller), a comparison whose figure it
    holds reads that column instead of its own subquery; the others compile as alone."""
    if "metric" in tree:
        metric = metrics.get(tree["metric"])
        days = tree.get("days", metric.window)
        if figures is not None and metric.figure is not None:
            need = metric.figure(day, tree["op"], tree["value"], days)
            column = figures.column(day, need) if need is not None else None
            if column is not None:
                return need.test(column)
        return metric.build(day, tree["op"], tree["value"], days)
    key = "all" if "all" in tree else "any"
    parts = [compile(child, day, figures) for child in tree[key]]
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if key == "all" else (combined | part)
    return combined


def needs(tree, day):
    """The metrics.Need of every comparison of the tree that reads a per-customer figure on `day`."""
    if "metric" in tree:
        metric = metrics.get(tree["metric"])
        if metric.figure is None:
            return []
        need = metric.figure(day, tree["op"], tree["value"], tree.get("days", metric.window))
        return [] if need is None else [need]
    key = "all" if "all" in tree else "any"
    return [need for child in tree[key] for need in needs(child, day)]


def describe(tree):
    """The tree in Chinese, e.g. 近365天订单金额 ≥ 100000元 且 距最近跟进天数 ≥ 60天."""
    if "metric" in tree:
        metric = metrics.get(tree["metric"])
        label = metric.label.replace("N", str(tree["days"])) if metric.window else metric.label
        value = tree["value"]
        if isinstance(value, list):
            shown = "、".join(value)
        elif isinstance(value, (int, float)):
            shown = f"{value:,}{metric.unit}"
        else:
            shown = f"{value}{metric.unit}"
        return f"{label} {metrics.OP_LABELS[tree['op']]} {shown}"
    key = "all" if "all" in tree else "any"
    joiner = " 且 " if key == "all" else " 或 "
    parts = [describe(child) if "metric" in child else f"（{describe(child)}）" for child in tree[key]]
    return joiner.join(parts)


def metrics_used(tree):
    if "metric" in tree:
        return {tree["metric"]}
    key = "all" if "all" in tree else "any"
    return set().union(*(metrics_used(child) for child in tree[key]))

