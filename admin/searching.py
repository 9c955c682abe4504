"""How a search box term becomes a condition, per column kind, honouring the policy.

A column the role sees in clear may be searched by fragment; a masked column only by
its exact full value (a caller's number finds their record, a prefix guess finds
nothing); a hidden column not at all.
"""
from models import Customer, sealed, search
from models.validation import MOBILE_RE, normalise_mobile


def _range(field, term):
    """Prefix match as an index-friendly range (LIKE 'x%' cannot use SQLite's b-tree here)."""
    return (field >= term) & (field < term + "\uffff")


def _contains(field, term):
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return field.ilike("%" + escaped + "%")


def fragment(model, column, term, clear):
    field = getattr(model, column)
    if not clear:
        return field == term
    if model is Customer and column in search.FTS_COLUMNS:
        return search.fragment_condition([column], term)
    return _contains(field, term)


def mobile(model, column, term, clear):
    number = normalise_mobile(term) or ""
    field = getattr(model, column)
    if MOBILE_RE.match(number):
        return field == number
    if not clear or not number.isdigit():
        return None
    return fragment(model, column, number, clear)


def exact(model, column, term, clear):
    return getattr(model, column) == term


def prefix(model, column, term, clear):
    field = getattr(model, column)
    return _range(field, term.upper()) if clear else field == term.upper()


def sealed_exact(model, column, term, clear):
    return getattr(model, column + "_digest") == sealed.digest(term)


KINDS = {"fragment": fragment, "mobile": mobile, "exact": exact, "prefix": prefix, "sealed": sealed_exact}


def condition(model, kinds, term, is_clear):
    """Rows where any searchable column matches `term`; None when nothing can match.

    Written as `id IN (SELECT id ... UNION SELECT id ...)` rather than an OR of the parts:
    with ORDER BY id LIMIT, SQLite otherwise prefers walking the whole table in id order,
    hoping to meet matches early, which costs a full scan when there are few or none.
    """
    pk = model._meta.primary_key
    ids = None
    for column, kind in kinds.items():
        part = KINDS[kind](model, column, term, is_clear(column))
        if part is not None:
            select = model.select(pk).where(part)
            ids = select if ids is None else (ids | select)
    return None if ids is None else pk.in_(ids)


def terms(text):
    """Split a search string into words; a whole string that is a mobile number stays one term."""
    text = (text or "").strip()
    if not text:
        return []
    if MOBILE_RE.match(normalise_mobile(text) or ""):
        return [text]
    return text.split()
