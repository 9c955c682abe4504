"""Conditions the findings share, written once per backend where SQL differs.

SQLite has no regular expressions without a Python callback (one call per row), so its forms
use GLOB, rtrim and instr, which run in C; PostgreSQL uses the same regular expressions as
models.standardise.  tests/test_quality_sql.py checks both against the Python rules value by value.
"""
import datetime

from peewee import Expression, fn

from models import is_sqlite
from models.standardise import PHONE_RE

# Python's \s in str patterns (what standardise's EMAIL_RE means by whitespace).
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Full-width forms of ASCII (U+FF01-U+FF5E) and the ideographic space: what standardise.halfwidth rewrites.
FULL_WIDTH_CLASS = "[\uff01-\uff5e\u3000]"
# UTF-8 bytes every full-width character starts with: U+FF01-U+FF5E are EF BC 81 - EF BD 9E, U+3000 is E3 80 80.
FULL_WIDTH_LEAD, IDEOGRAPHIC_SPACE = b"\xef", "\u3000".encode()
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
MOBILE_GLOB = "1[3-9]" + "[0-9]" * 9
MOBILE_REGEX = "^1[3-9][0-9]{9}$"
EMAIL_REGEX = f"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\\.[A-Za-z]{{2,}}$"
PHONE_REGEX = PHONE_RE.pattern
PHONE_LENGTH = (6, 20)
EARLIEST = datetime.date(1950, 1, 1)


def _glob(column, pattern):
    return Expression(column, "GLOB", pattern)


def _matches(column, pattern):
    return Expression(column, "~", pattern)


def blank(column):
    """NULL or only spaces."""
    return column.is_null() | (fn.TRIM(column) == "")


def filled(column):
    return column.is_null(False) & (fn.TRIM(column) != "")


def valid_mobile(column):
    if is_sqlite():
        return _glob(column, MOBILE_GLOB)
    return _matches(column, MOBILE_REGEX)


def valid_email(column):
    """standardise.EMAIL_RE: one @, no whitespace, something before it, and after it a dot
    followed by at least two ASCII letters at the end, with something between the @ and that dot."""
    if not is_sqlite():
        return _matches(column, EMAIL_REGEX)
    at = fn.INSTR(column, "@")
    domain = fn.SUBSTR(column, at + 1)
    head = fn.RTRIM(domain, LETTERS)  # the domain without its trailing letters: must end in "x."
    exact_end = _glob(head, "?*.") & (fn.LENGTH(domain) - fn.LENGTH(head) >= 2)
    # The usual ending first, GLOBs that walk the text once: something after the @, a dot, then exactly
    # two or three letters (given one @, this is the rule above); other endings take rtrim's way.
    usual_end = (_glob(column, "*@?*.[A-Za-z][A-Za-z]") | _glob(column, "*@?*.[A-Za-z][A-Za-z][A-Za-z]"))
    return (at > 1) & ~_glob(column, "*@*@*") & _no_whitespace(column) & (usual_end | exact_end)


def _no_whitespace(column):
    """No character of Python's \\s (SQLite).  Nearly every e-mail is printable ASCII without a space
    (one range, "!" to "~"), which rules all of them out; only other texts try the whole class, whose
    twenty-odd entries cost several times more at every character (bench/quality.py)."""
    return ~_glob(column, "*[^!-~]*") | ~_glob(column, f"*[{WHITESPACE}]*")


def valid_phone(column):
    """standardise.PHONE_RE: 6-20 of digits, brackets, dashes, + and spaces."""
    if not is_sqlite():
        return _matches(column, PHONE_REGEX)
    low, high = PHONE_LENGTH
    return ~_glob(column, "*[^0-9()+ -]*") & fn.LENGTH(column).between(low, high)


def has_full_width(column):
    if is_sqlite():
        # GLOB tries the class at every character of the text; first look for the lead bytes (a
        # byte search, much cheaper, and false for nearly every row), then let GLOB decide exactly.
        raw = column.cast("BLOB")
        lead = (fn.INSTR(raw, FULL_WIDTH_LEAD) > 0) | (fn.INSTR(raw, IDEOGRAPHIC_SPACE) > 0)
        return lead & _glob(column, f"*{FULL_WIDTH_CLASS}*")
    return _matches(column, FULL_WIDTH_CLASS)


def day_of(column):
    """The date of a timestamp column (DATE() is a function on SQLite, a cast on PostgreSQL)."""
    return fn.DATE(column)


def start_of(day):
    return datetime.datetime.combine(day, datetime.time())
