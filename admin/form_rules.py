"""WTForms adapters for the shared field rules in models.validation."""
from wtforms.validators import Optional, ValidationError

from models import Customer
from models import validation as rules


def rule(check):
    """Turn a models.validation checker into a WTForms validator."""

    def validator(form, field):
        message = check(field.data)
        if message:
            raise ValidationError(message)

    return validator


def unique_code(form, field):
    if not field.data:
        return
    query = Customer.select().where(Customer.code == field.data)
    current = getattr(form, "_obj", None)
    if current is not None and current.id:
        query = query.where(Customer.id != current.id)
    if query.exists():
        raise ValidationError(f"客户编号 {field.data} 已存在")


def strip(value):
    return value.strip() if isinstance(value, str) else value


def upper(value):
    return value.strip().upper() if isinstance(value, str) else value


def score_range(form, field):
    if field.data is not None and not 1 <= field.data <= 5:
        raise ValidationError("评分应为 1 到 5")


def positive(form, field):
    if field.data is not None and field.data < 0:
        raise ValidationError("不能为负数")


MOBILE = {"filters": [rules.normalise_mobile], "validators": [rule(rules.check_mobile)]}
EMAIL = {"filters": [strip], "validators": [rule(rules.check_email)]}
PHONE = {"filters": [strip], "validators": [rule(rules.check_phone)]}
CODE = {"filters": [upper], "validators": [Optional(), rule(rules.check_code), unique_code]}  # empty: generated
