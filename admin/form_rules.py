"""WTForms adapters for the shared field rules in models.validation."""
import decimal

from wtforms.validators import Optional, StopValidation, ValidationError

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


def storable(model_field):
    """A validator that keeps a number inside what its column stores (models.validation.number_out_of_range,
    which the import checks too), or None for other columns.

    WTForms takes 1e309, NaN, Infinity or forty nines as numbers; saved, they failed in the database
    (PostgreSQL: out of range; SQLite: integer overflow) or, stored in SQLite, made the record's edit page fail
    to show them.  StopValidation: later checks (such as `positive`) never compare a NaN."""
    if not rules.stores_numbers(model_field):
        return None

    def validator(form, field):
        value = field.data
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, str):  # a number column shown as a drop-down (e.g. a schedule's weekday)
            try:
                value = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                return  # not a number at all: the field's own choices refuse it
        message = rules.number_out_of_range(model_field, value)
        if message:
            raise StopValidation(message)

    return validator


def chosen(form, field):
    """A drop-down of a column that must hold one of its choices: an empty submit is refused.

    wtfpeewee makes a column with a default Optional(), so a crafted empty value skipped the check of the
    choices and was stored ('' as 标签's 来源, shown as 手工 afterwards)."""
    if field.data in ("", None):
        raise StopValidation("请选择一项")


MOBILE = {"filters": [standardised(standardise.mobile)], "validators": [rule(rules.check_mobile)]}
EMAIL = {"filters": [standardised(standardise.email)], "validators": [rule(rules.check_email)]}
PHONE = {"filters": [standardised(standardise.phone)], "validators": [rule(rules.check_phone)]}
CODE = {"filters": [upper], "validators": [Optional(), rule(rules.check_code), unique_code]}  # empty: generated
