"""A report spec: rows (1-2 dimensions), measures, a period, filters, an optional chart and row limit.

    {"rows": ["industry"], "measures": ["customers", "revenue"],
     "period": {"preset": "last_12_months"}            # or {"start": "2026-01-01", "end": "2026-06-30"}
     "filters": {"region": ["华东"], "tag": ["高价值"]},
     "chart": "pie", "limit": 20}

parse(data, grant, today) checks it against the registries and the grant and returns a Spec, or raises
SpecError with a Chinese sentence saying what is wrong (one per problem, all of them).  Presets are relative
to `today`, passed in (a subscription's day, a test's fixed day), so a saved report reads the same period
relative to whenever it runs.
"""
import datetime
from dataclasses import dataclass, field

from . import policy
from .catalog import DIMENSIONS, MEASURES

MAX_ROWS = 1000  # rows a report shows; more needs a filter or a limit
CHARTS = {"bar": "柱状图", "line": "折线图", "pie": "饼图", "funnel": "漏斗图"}


def _months_back(day, months):
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime.date(year, month, 1)


# key -> (label, start(today), end(today)); "all" has no start
PERIODS = {
    "last_30_days": ("近30天", lambda t: t - datetime.timedelta(days=29), lambda t: t),
    "last_90_days": ("近90天", lambda t: t - datetime.timedelta(days=89), lambda t: t),
    "last_12_months": ("近12个月", lambda t: _months_back(t, 11), lambda t: t),
    "last_24_months": ("近24个月", lambda t: _months_back(t, 23), lambda t: t),
    "this_year": ("本年", lambda t: datetime.date(t.year, 1, 1), lambda t: t),
    "last_year": ("上一年", lambda t: datetime.date(t.year - 1, 1, 1), lambda t: datetime.date(t.year - 1, 12, 31)),
    "all": ("全部时间", lambda t: None, lambda t: t),
}


class SpecError(ValueError):
    """A spec that cannot run; str() is every problem, in Chinese, joined by ；."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("；".join(self.problems))


@dataclass(frozen=True)
class Spec:
    rows: tuple
    measures: tuple
    start: datetime.date  # None: from the first order
    end: datetime.date
    period: dict
    filters: dict = field(default_factory=dict)  # dimension key -> tuple of values
    chart: str = None
    limit: int = None

    @property
    def dimensions(self):
        return [DIMENSIONS[key] for key in self.rows]

    @property
    def measure_list(self):
        return [MEASURES[key] for key in self.measures]

    @property
    def period_label(self):
        preset = self.period.get("preset")
        if preset:
            label = PERIODS[preset][0]
            return f"{label}（{self.start.isoformat() if self.start else '最早'} 至 {self.end.isoformat()}）"
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"

    def as_dict(self):
        data = {"rows": list(self.rows), "measures": list(self.measures), "period": dict(self.period),
                "filters": {k: list(v) for k, v in self.filters.items()}}
        if self.chart:
            data["chart"] = self.chart
        if self.limit:
            data["limit"] = self.limit
        return data


def _list(value):
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(part).strip() for part in value if str(part).strip()]
    return None


def _day(text, label, problems):
    try:
        return datetime.date.fromisoformat(str(text).strip())
    except ValueError:
        problems.append(f"{label}格式应为 YYYY-MM-DD，收到“{str(text)[:20]}”")
        return None


def _period(data, today, problems):
    if not isinstance(data, dict):
        data = {"preset": "last_12_months"} if data in (None, "") else {"preset": str(data)}
    preset = str(data.get("preset") or "").strip()
    if preset:
        if preset not in PERIODS:
            problems.append(f"未知的期间“{preset[:20]}”；可选：{'、'.join(label for label, _, _ in PERIODS.values())}")
            return None, None, {}
        _, start, end = PERIODS[preset]
        return start(today), end(today), {"preset": preset}
    start = _day(data.get("start"), "开始日期", problems) if data.get("start") else None
    end = _day(data.get("end"), "结束日期", problems) if data.get("end") else None
    if not data.get("start") or not data.get("end"):
        problems.append("请选择期间，或填写开始日期和结束日期")
        return None, None, {}
    if start and end and start > end:
        problems.append(f"开始日期（{start}）应早于结束日期（{end}）")
    return start, end, {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}


def parse(data, grant, today):
    """The Spec of `data` (a dict as above) for `grant` (None: the system), or SpecError."""
    problems = []
    if not isinstance(data, dict):
        raise SpecError(["报表定义格式不正确"])
    offered_dims = {d.key: d for d in policy.dimensions(grant)}
    offered_measures = {m.key: m for m in policy.measures(grant)}

    rows = _list(data.get("rows"))
    if rows is None:
        problems.append("行维度格式不正确")
        rows = []
    if not rows:
        problems.append("请至少选择一个行维度")
    if len(rows) > 2:
        problems.append(f"行维度最多选两个，收到 {len(rows)} 个")
    if len(set(rows)) != len(rows):
        problems.append("行维度不能重复")
    for key in rows:
        if key not in DIMENSIONS:
            problems.append(f"未知的维度“{key[:30]}”")
        elif key not in offered_dims:
            problems.append(f"您的角色不能按“{DIMENSIONS[key].label}”分组")
    known_rows = [DIMENSIONS[k] for k in rows if k in offered_dims]
    if sum(1 for d in known_rows if d.is_time) > 1:
        problems.append("只能选择一个时间维度（月份或季度）")

    measures = _list(data.get("measures"))
    if measures is None:
        problems.append("指标格式不正确")
        measures = []
    if not measures:
        problems.append("请至少选择一个指标")
    if len(set(measures)) != len(measures):
        problems.append("指标不能重复")
    for key in measures:
        if key not in MEASURES:
            problems.append(f"未知的指标“{key[:30]}”")
        elif key not in offered_measures:
            problems.append(f"您的角色不能查看指标“{MEASURES[key].label}”")

    start, end, period = _period(data.get("period"), today, problems)

    filters = {}
    raw_filters = data.get("filters") or {}
    if not isinstance(raw_filters, dict):
        problems.append("筛选条件格式不正确")
        raw_filters = {}
    for key, values in raw_filters.items():
        values = _list(values)
        if not values:
            continue
        dimension = DIMENSIONS.get(key)
        if dimension is None or not dimension.filterable:
            problems.append(f"不能按“{dimension.label if dimension else str(key)[:30]}”筛选")
            continue
        if key not in offered_dims:
            problems.append(f"您的角色不能按“{dimension.label}”筛选")
            continue
        allowed = {value for value, _ in dimension.choices()}
        wrong = [v for v in values if v not in allowed]
        if wrong:
            problems.append(f"筛选“{dimension.label}”的值不在列表中：{'、'.join(w[:30] for w in wrong[:5])}")
            continue
        filters[key] = tuple(values)

    chart = (data.get("chart") or None)
    if chart is not None and chart not in CHARTS:
        problems.append(f"未知的图表类型“{str(chart)[:20]}”")

    limit = data.get("limit")
    if limit in ("", None):
        limit = None
    else:
        try:
            limit = int(str(limit).strip())
        except ValueError:
            problems.append(f"显示行数应为整数，收到“{str(limit)[:20]}”")
            limit = None
        if limit is not None and not 1 <= limit <= MAX_ROWS:
            problems.append(f"显示行数应在 1 到 {MAX_ROWS:,} 之间，收到 {limit}")
    if any(DIMENSIONS[k].needs_limit for k in rows if k in DIMENSIONS) and not limit:
        limit = 100  # one row per customer: the top 100 unless told
    if problems:
        raise SpecError(problems)
    return Spec(rows=tuple(rows), measures=tuple(measures), start=start, end=end, period=period, filters=filters,
                chart=chart, limit=limit)
