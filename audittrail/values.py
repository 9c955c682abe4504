"""What a delete entry records: every column of the deleted row, sensitive ones masked, secrets left out.

A sensitive column (ID number, bank card, a column the deleting user's grant masks or hides) is written as
access.mask gives it ('110***********1234'), never in clear; secrets (password hashes, TOTP secrets and the
keyed digests of sealed columns) are not written at all, not even masked.
"""
import datetime
import decimal

import access

SECRET_COLUMNS = ("password_hash", "totp_secret")


def _secret(name):
    return name in SECRET_COLUMNS or name.endswith("_digest")


def _plain(value, field):
    if isinstance(value, decimal.Decimal):  # money as stored, two places: SQLite hands 88.00 back as 88
        places = getattr(field, "decimal_places", None)
        return f"{value:.{places}f}" if places is not None else str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def deleted_values(row, masked=()):
    """{column: value} of model instance `row` as it was deleted (foreign keys as ids)."""
    values = {}
    for field in type(row)._meta.sorted_fields:
        name = field.name
        if _secret(name) or field.primary_key:
            continue
        value = row.__data__.get(name)
        values[name] = access.mask(value) if name in masked and value not in (None, "") else _plain(value, field)
    return values


def masked_columns(model, key, sensitive=(), grant=None):
    """Columns of `model` whose values a delete entry masks: the screen's sensitive columns and every
    column `grant` does not show in clear on policy key `key`."""
    names = set(sensitive)
    if grant is not None:
        names |= {f.name for f in model._meta.sorted_fields if not grant.clear(key, f.name)}
    return names
