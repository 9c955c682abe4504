"""What a caller sees of a record and may write to it: the column rules of their grant, as on the screens.

    shown = columns.project(caller.grant, "customer", {"name": ..., "mobile": ...})
    # hidden columns absent, masked ones access.mask()ed, the rest as given
    errors = columns.refuse_unwritable(caller.grant, "customer", payload)
    # [{"field": ..., "message": ...}] for each column the role may not write (hidden, masked, read-only)
"""
import datetime
import decimal

import access
from access.grant import EDITABLE, HIDDEN, MASKED

REFUSED = {
    "hidden": "您的角色不能写入此字段",
    "masked": "此字段对您的角色脱敏，不能写入",
    "readonly": "此字段对您的角色只读，不能修改",
}


def plain(value):
    """A stored value as the API's JSON carries it: money with two places as text, times to the second in ISO
    form, dates in ISO form, the rest as it is."""
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def project(grant, policy_key, values):
    shown = {}
    for column, value in values.items():
        level = grant.access(policy_key, column)
        if level == HIDDEN:
            continue
        if level == MASKED and value not in (None, ""):
            value = access.mask(value)
        shown[column] = value
    return shown


def refuse_unwritable(grant, policy_key, payload, columns=None):
    errors = []
    for name in payload:
        column = (columns or {}).get(name, name)
        level = grant.access(policy_key, column)
        if level != EDITABLE:
            errors.append({"field": name, "message": REFUSED.get(level, REFUSED["readonly"])})
    return errors
