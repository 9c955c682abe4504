"""WTForms adapters for the shared field rules in models.validation."""
from wtforms.validators import Optional, ValidationError

from models import Customer, standardise
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
    """Trimmed and half-width (models.standardise.text); empty input stays as the field had it."""
    return standardise.text(value) or value if isinstance(value, str) else value


def upper(value):
    return standardise.code(value) or value if isinstance(value, str) else value


def standardised(clean):
    """A WTForms filter from a models.standardise function: its StandardError (a ValueError) becomes
    the field's error message, as WTForms reports a filter's ValueError."""

    def _filter(value):
        return clean(value) if isinstance(value, str) and value.strip() else (value or None)

    return _filter


def score_range(form, field):
    if field.data is not None and not 1 <= field.data <= 5:
        raise ValidationError("评分应为 1 到 5")


def positive(form, field):
    if field.data is not None and field.data < 0:
        raise ValidationError("不能为负数")


MOBILE = {"filters": [standardised(standardise.mobile)], "validators": [rule(rules.check_mobile)]}
EMAIL = {"filters": [standardised(standardise.email)], "validators": [rule(rules.check_email)]}
PHONE = {"filters": [standardised(standardise.phone)], "validators": [rule(rules.check_phone)]}
CODE = {"filters": [upper], "validators": [Optional(), rule(rules.check_code), unique_code]}  # empty: generated
