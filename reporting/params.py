"""Checks and converts report parameters before any kernel starts.

papermill only warns about names the notebook does not declare, and passes CLI strings
through untouched; a typo would silently run the report with defaults.  So the product
reads the notebook's `parameters` cell (declared(): the cell tagged "parameters", as
papermill.inspect_notebook finds it), takes each parameter's type from its declared default,
and rejects unknown names, wrong types and bad dates with a message a person can act on.

The cell is read here with json and ast rather than through papermill: importing papermill
loads nbformat and jsonschema's format grammars (about 1.4 s of CPU), which the web app and
the CLI would pay at every start only to draw a form.  A notebook is parsed once per version of
its file (path, size and modification time).
"""
import ast
import copy
import datetime
import json
import os
import threading

from .registry import SCOPE_PARAMS, ReportError

# SCOPE_PARAMS (registry) are set by the runner from the access policy; a caller supplying them could widen
# their own scope.
DATE_PARAMS = ("as_of", "start", "compare_to")
# What people call the parameters, per language: (label, input hint).  The 立即运行 form shows
# both, mails and other summaries the label alone; a parameter not listed shows its own name.
PARAMETER_LABELS = {
    "zh": {"as_of": ("截止日期", ""), "start": ("起始日期", ""), "regions": ("地区", "逗号分隔，留空为全部"),
           "industries": ("行业", "逗号分隔，留空为全部"), "tag": ("标签", "留空为全部"), "top_n": ("名单长度", ""),
           "currency": ("货币符号", ""), "compare_to": ("对比日期", "分群迁移与阶段流转"),
           "clusters": ("k-means 聚类数", "0 不聚类，1 按轮廓系数自动选择"), "churn_days": ("流失天数", ""),
           "unit_days": ("模型时间单位（天）", ""), "discount_rate": ("月贴现率", ""),
           "horizon_months": ("CLV 预测期", "月，逗号分隔"), "holdout_weeks": ("留出期（周）", ""),
           "report_id": ("自定义报表编号", "在自定义报表页面点“订阅此报表”即自动填写")},
    "en": {"as_of": ("As of", ""), "start": ("Start", ""), "regions": ("Regions", "comma separated, empty: all"),
           "industries": ("Industries", "comma separated, empty: all"), "tag": ("Tag", "empty: all"),
           "top_n": ("List length", ""), "currency": ("Currency symbol", ""),
           "compare_to": ("Compare to", "migration and stage flows"),
           "clusters": ("k-means clusters", "0: none, 1: chosen by silhouette"), "churn_days": ("Churn after days", ""),
           "unit_days": ("Model time unit (days)", ""), "discount_rate": ("Monthly discount rate", ""),
           "horizon_months": ("CLV horizons", "months, comma separated"), "holdout_weeks": ("Holdout (weeks)", ""),
           "report_id": ("Saved report number", "filled in by 订阅此报表 on the report builder")},
}
# What a report can sensibly be asked, per parameter: (lowest, highest) for a number or each item of a
# list of numbers.  Beyond these a run would only fail deep in a notebook or drown a reader
# (a customer list of a million rows), so they are refused before anything runs.
RANGES = {
    "top_n": (1, 500),
    "churn_days": (7, 3650),
    "holdout_weeks": (0, 104),
    "clusters": (0, 8),
    "discount_rate": (0.0, 0.5),
    "horizon_months": (1, 120),
}
CHOICES = {"unit_days": (1, 7, 30)}
MAX_LIST_ITEMS = {"horizon_months": 5}
TRUE = {"1", "true", "yes", "y", "on", "是"}
FALSE = {"0", "false", "no", "n", "off", "否", ""}


def parameter_label(name, language="zh", hint=False):
    """What people call parameter `name`; with hint, followed by how to fill it in."""
    label, how = PARAMETER_LABELS[language].get(name, (name, ""))
    if not (hint and how):
        return label
    return f"{label}（{how}）" if language == "zh" else f"{label} ({how})"


def is_date_param(name):
    return name in DATE_PARAMS or name.endswith("_date")


_declared_cache = {}  # (path, size, mtime_ns) -> {name: default}
_declared_lock = threading.Lock()


def declared(notebook):
    """name -> default value, as declared in the notebook's parameters cell (the first code cell tagged
    "parameters"; none: no parameters).  A default that is an expression (e.g. a call) reads as None, so
    the value is accepted as text.  Raises ReportError when the file is missing or the cell is not Python."""
    path = os.path.realpath(os.fspath(notebook))
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise ReportError(f"报表笔记本不存在：{notebook}") from None
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _declared_lock:
        found = _declared_cache.get(key)
    if found is None:
        found = _parse_parameters(path)
        with _declared_lock:
            if len(_declared_cache) > 256:  # old versions of edited notebooks
                _declared_cache.clear()
            _declared_cache[key] = found
    return copy.deepcopy(found)  # callers may change what they get (lists are defaults too)


def _parameters_source(path):
    with open(path, encoding="utf-8") as handle:
        cells = json.load(handle).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else source
    return ""


def _parse_parameters(path):
    source = _parameters_source(path)
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ReportError(f"报表笔记本的参数单元格无法解析（第 {error.lineno} 行）：{path}") from None
    defaults = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                defaults[target.id] = ast.literal_eval(value)
            except ValueError:
                defaults[target.id] = None  # an expression (e.g. a call): accept the value as text
    return defaults


def check_scope(report, names):
    """Raise ReportError unless `names` (what the report's notebook declares) holds every scope parameter the
    registry says the report takes (Report.scope).  A notebook is given only what it declares, so one that
    lost, say, owner_ids would otherwise cover every customer for a sales rep: it is not run at all."""
    missing = [name for name in report.scope if name not in names]
    if missing:
        raise ReportError(f"报表 {report.name} 的笔记本未声明访问范围参数 {'、'.join(missing)}，"
                          "为避免超出权限范围，此报表暂不能运行；请联系管理员修正报表笔记本")


def for_notebook(report, values):
    """Of a run's recorded parameters `values`, those the report's notebook declares, which are all papermill
    is given (it would inject the others too, with a warning, and nothing would read them).  Raises
    ReportError when the notebook lacks a scope parameter it must take (check_scope): fail closed."""
    names = declared(report.notebook)
    check_scope(report, names)
    return {name: value for name, value in values.items() if name in names}


def validate(report, supplied):
    """The notebook's defaults, overlaid by the report's defaults and the caller's values, converted.

    Raises ReportError naming the parameter and what was expected, or when the notebook does not
    declare the scope parameters the report takes (check_scope).
    """
    defaults = declared(report.notebook)
    check_scope(report, defaults)
    values = {name: value for name, value in defaults.items() if name not in SCOPE_PARAMS}
    for name, value in {**report.defaults, **(supplied or {})}.items():
        if name in SCOPE_PARAMS:
            raise ReportError(f"参数 {name} 由访问权限决定，不能手动设置")
        if name not in defaults:
            usable = "、".join(n for n in defaults if n not in SCOPE_PARAMS) or "（无）"
            raise ReportError(f"未知参数 {name}；可用参数：{usable}")
        values[name] = coerce(name, value, defaults[name])
    for name, value in values.items():
        check_range(name, value)
    check_dates(values)
    return values


def _label(name):
    label = parameter_label(name)
    return label if label == name else f"{label}（{name}）"


def check_range(name, value):
    """Raise ReportError when a number (or each number of a list) is outside RANGES / CHOICES."""
    if name in CHOICES and value not in CHOICES[name]:
        allowed = "、".join(str(choice) for choice in CHOICES[name])
        raise ReportError(f"参数 {_label(name)} 只能是 {allowed} 之一，收到 {value!r}")
    if name not in RANGES:
        return
    low, high = RANGES[name]
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list):
        if not value:
            raise ReportError(f"参数 {_label(name)} 至少需要一个值")
        if len(value) > MAX_LIST_ITEMS.get(name, len(value)):
            raise ReportError(f"参数 {_label(name)} 最多 {MAX_LIST_ITEMS[name]} 个值，收到 {len(value)} 个")
    for item in items:
        if isinstance(item, (int, float)) and not low <= item <= high:
            raise ReportError(f"参数 {_label(name)} 应在 {low:g} 到 {high:g} 之间，收到 {item!r}")


def check_dates(values):
    """The window must run forwards: start before as_of, compare_to before as_of (when both are set)."""
    as_of = values.get("as_of")
    for name in ("start", "compare_to"):
        other = values.get(name)
        if as_of and other and datetime.date.fromisoformat(other) >= datetime.date.fromisoformat(as_of):
            raise ReportError(f"参数 {_label(name)} 应早于截止日期（as_of {as_of}），收到 {other}")


def coerce(name, value, default):
    """`value` (a CLI string, or already typed from a form) as the type of `default`."""
    if is_date_param(name):
        return _date(name, value)
    if isinstance(default, bool):  # before int: bool is an int
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise ReportError(f"参数 {name} 应为是/否（true/false），收到 {value!r}")
    if isinstance(default, int):
        return _number(name, value, int, "整数")
    if isinstance(default, float):
        return _number(name, value, float, "数字")
    if isinstance(default, (list, tuple)):
        return _list(name, value, default)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ReportError(f"参数 {name} 应为文本，收到 {value!r}")
        return value
    return value  # default None or an expression: nothing to infer a type from


def _date(name, value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = "" if value is None else str(value).strip()
    if text:
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            raise ReportError(f"参数 {name} 应为日期 YYYY-MM-DD（或留空），收到 {value!r}") from None
    return text


def _number(name, value, kind, label):
    if isinstance(value, bool):
        raise ReportError(f"参数 {name} 应为{label}，收到 {value!r}")
    if isinstance(value, (int, float)) and (kind is float or isinstance(value, int)):
        return kind(value)
    try:
        return kind(str(value).strip())
    except ValueError:
        raise ReportError(f"参数 {name} 应为{label}，收到 {value!r}") from None


def _list(name, value, default):
    items = value if isinstance(value, (list, tuple)) else [p.strip() for p in str(value).split(",")]
    items = [item for item in items if item != ""]
    if default and all(isinstance(d, int) and not isinstance(d, bool) for d in default):
        return [_number(name, item, int, "整数列表（逗号分隔）") for item in items]
    return [str(item) for item in items]
