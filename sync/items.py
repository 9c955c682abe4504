"""JSON items as the importer's rows, checked by the importer's own code.

Each item becomes an intake.engine.Row whose "file" has one column per field name the call uses, so
intake.engine.check_rows cleans every value with the kind's models.standardise function and runs the
kind's checks (customer by code in the user's row scope, the record the key names, permission).  What is
particular to JSON is decided here, before that: an item that is not an object, a field the kind does not
know, a value that is not a scalar, a field the role may not write, and a key given twice in one call.
"""
import math
from dataclasses import dataclass

from intake.columns import Mapping
from intake.engine import CellError, Row, check_rows

MAX_ITEMS = 10_000  # items a call; an ERP sends a day's orders in calls of this size

LEVELS = {"hidden": "隐藏", "masked": "脱敏", "readonly": "只读"}
SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ItemError:
    index: int  # position in the call's items, from 0
    field: str  # the item's field name; None when the reason is the whole item's
    value: object  # as sent
    reason: str  # Chinese

    def as_dict(self):
        return {"index": self.index, "field": self.field, "value": self.value, "reason": self.reason}


def _as_sent(value):
    """The value as the error shows it: JSON scalars as they are, anything else as text (also NaN and Infinity,
    which Python's JSON parser takes and JSON cannot carry back)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, SCALARS) else str(value)


def refused_fields(spec, names, grant):
    """{field: reason} of the call's fields the role may not write (hidden, masked or read-only)."""
    refused = {}
    if grant is None:
        return refused
    for name in names:
        field_spec = spec.field(name)
        if field_spec.own_policy:
            continue
        level = grant.access(spec.policy_key, field_spec.policy_column)
        if level != "editable":
            refused[name] = (f"您的角色（{grant.label}）不能写入{field_spec.label}（{name}，"
                             f"{LEVELS.get(level, level)}）：请不要发送这个字段")
    return refused


def rows_of(spec, items, ctx, required_key):
    """Rows of `items` (a list of dicts) cleaned and checked as an import's; every problem is on its row."""
    known = {field_spec.name for field_spec in spec.fields}
    names = []  # the fields the call uses, in the kind's order: the columns of the "file"
    for item in items:
        if isinstance(item, dict):
            names.extend(name for name in item if name in known and name not in names)
    names.sort(key=[field_spec.name for field_spec in spec.fields].index)
    mapped = Mapping(headers=list(names), fields=dict(enumerate(names)), source="explicit")
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            row = Row(index, [None] * len(names), mapped.headers, {})
            row.errors.append(CellError(index, "", _as_sent(item), "每一项应为一个对象（JSON object）", field=None))
            rows.append(row)
            continue
        raw = []
        for name in names:
            value = item.get(name)
            raw.append(value if isinstance(value, SCALARS) else None)
        row = Row(index, raw, mapped.headers, {name: position for position, name in enumerate(names)})
        for name, value in item.items():
            if name not in known:
                row.errors.append(CellError(index, name, _as_sent(value), f"未知字段：{name}", field=name))
            elif not isinstance(value, SCALARS):
                row.errors.append(CellError(index, name, _as_sent(value), "应为文字、数字或 null", field=name))
        rows.append(row)
    objects = [row for row in rows if isinstance(items[row.row_no], dict)]
    check_rows(spec, objects, ctx, mapped, refused_fields(spec, names, ctx.grant))
    first = {}
    for row in objects:
        key_value = row.values.get(required_key)
        if key_value is None:
            if not row.has_error(required_key):
                label = spec.field(required_key).label
                row.reject(required_key, f"{label}（{required_key}）必填：同步按它匹配已有记录，重发时才不会重复")
            continue
        if row.errors:
            continue
        if key_value in first:
            row.reject(required_key, f"与第 {first[key_value]} 项重复（同一请求中出现两次）")
        else:
            first[key_value] = row.row_no
    return rows


def errors_of(rows):
    """Every rejected field of every row, in item order."""
    out = []
    for row in rows:
        for error in row.errors:
            out.append(ItemError(row.row_no, error.field, _as_sent(error.value), error.reason))
    return out
