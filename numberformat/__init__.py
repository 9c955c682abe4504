"""How numbers read on every screen: counts with thousands separators, money with ¥ and two decimals.

    numberformat.count(1234567)                  # '1,234,567'
    numberformat.money(Decimal("1250000.5"))     # '¥1,250,000.50'
    numberformat.money(-1234.4, decimals=0)      # '-¥1,234'
    numberformat.amount(Decimal("1250000"))      # '1,250,000.00' (a figure whose column already says 金额)

One module for the admin's lists and details pages (admin/secured.py's type formatters), its own screens' Jinja
filters (`thousands`, `money`), the dashboard's cards, the value table and the report tables (analytics.tables), so
a figure reads the same wherever it is shown.  Exports never use it: CSV and XLSX keep plain numbers that a
spreadsheet can sum.  Never imports Flask (the worker and report kernels format with it too).
"""
import decimal
import numbers

CURRENCY = "¥"


def count(value):
    """A whole number with thousands separators; '' for None; text unchanged."""
    if value is None:
        return ""
    if not isinstance(value, numbers.Number) or isinstance(value, bool):
        return str(value)
    return f"{round(value):,}"


def money(value, currency=CURRENCY, decimals=2):
    """An amount with its currency sign and thousands separators (negative: -¥1,234.00); '' for None."""
    if value is None:
        return ""
    if not isinstance(value, numbers.Number) or isinstance(value, bool):
        return str(value)
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(_exact(value)):,.{decimals}f}"


def amount(value, decimals=2):
    """An amount with thousands separators and no sign, where the column names the money; '' for None."""
    if value is None:
        return ""
    if not isinstance(value, numbers.Number) or isinstance(value, bool):
        return str(value)
    return f"{_exact(value):,.{decimals}f}"


def _exact(value):
    # Decimals format exactly as stored; other numbers as floats (a numpy number, an int).
    return value if isinstance(value, decimal.Decimal) else float(value)


__all__ = ["CURRENCY", "amount", "count", "money"]
