"""Field rules shared by forms, importers and the API: normalise, then check.

Each checker returns None when the value is fine, otherwise a message in Chinese
that names the problem, so every entry path reports the same reason.
"""
import decimal
import re

import peewee

from .standardise import EMAIL_RE, MOBILE_RE, PHONE_RE, halfwidth

CODE_RE = re.compile(r"^[A-Z]+-[A-Z]+-[0-9]{4}-[0-9]+$")


def normalise_mobile(value):
    """'+86 138-1234-5678' -> '13812345678', full-width digits as ASCII; empty stays None.

    Lenient (search terms pass through it); standardise.mobile is the strict form for storing."""
    if value is None:
        return None
    text = re.sub(r"[\s\-()]", "", halfwidth(str(value)))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text or None


def check_mobile(value):
    if value and not MOBILE_RE.match(value):
        return "手机号码格式不正确：应为 11 位数字，以 13–19 开头（可带空格、横线或 +86）"
    return None


def check_email(value):
    if value and not EMAIL_RE.match(value):
        return "邮箱格式不正确，例如 name@example.com"
    return None


def check_phone(value):
    if value and not PHONE_RE.match(value):
        return "电话格式不正确：只能包含数字、括号、横线和 +"
    return None


def check_code(value):
    if value and not CODE_RE.match(value):
        return "客户编号格式不正确：应为 区域-行业-年份-序号，例如 HB-IT-2024-001"
    return None


def check_contact_present(mobile, phone):
    if not mobile and not phone:
        return "手机号码和电话至少填写一项"
    return None


def number_out_of_range(model_field, value):
    """A message when number `value` is beyond what `model_field`'s column stores (a Decimal column's whole
    digits, PostgreSQL's integer and bigint), else None; None for columns that are not numbers.  Beyond them a
    save failed in PostgreSQL, or SQLite stored a value its pages then failed to show."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(model_field, peewee.DecimalField) and model_field.max_digits:
        whole = model_field.max_digits - (model_field.decimal_places or 0)
        limit, message = decimal.Decimal(10) ** whole, f"数值过大：整数部分最多 {whole} 位"
    elif isinstance(model_field, peewee.BigIntegerField):
        limit, message = 2**63, "数值超出范围"
    elif isinstance(model_field, peewee.IntegerField) and not isinstance(model_field, peewee.AutoField):
        limit, message = 2**31, "数值超出范围"  # PostgreSQL's integer
    elif isinstance(model_field, peewee.FloatField):
        limit, message = 1e300, "数值超出范围"
    else:
        return None
    if isinstance(value, decimal.Decimal) and not value.is_finite() or isinstance(value, float) and (
            value != value or value in (float("inf"), float("-inf"))):
        return "请输入有效的数字"
    return None if -limit < value < limit else message


def stores_numbers(model_field):
    """Whether number_out_of_range checks this column."""
    if isinstance(model_field, peewee.DecimalField):
        return bool(model_field.max_digits)
    return isinstance(model_field, peewee.FloatField) or (
        isinstance(model_field, peewee.IntegerField) and not isinstance(model_field, peewee.AutoField))
