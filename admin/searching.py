"""How a search box term becomes a condition, per column kind, honouring the policy.

A column the role sees in clear may be searched by fragment; a masked column only by
its exact full value (a caller's number finds their record, a prefix guess finds
nothing); a hidden column not at all.
"""
import re

from models import Customer, sealed, search
from models.validation import MOBILE_RE, normalise_mobile


def _range(field, term):
    """Prefix match as an index-friendly range (LIKE 'x%' cannot use SQLite's b-tree here)."""
    return (field >= term) & (field < term + "\uffff")


def _contains(field, term):
    return field.contains(term)  # peewee escapes % and _ in the term


class Scan:
    """A condition to check row by row while walking the table in id order (dense matches)."""

    def __init__(self, expression):
        self.expression = expression


def indexed_fragment(columns, term):
    """Customer columns covered by the trigram index, searched together in one index lookup."""
    if search.is_dense(columns, term):
        return Scan(search.contains_condition(columns, term))
    return search.fragment_condition(columns, term)


def fragment(model, column, term, clear):
    field = getattr(model, column)
    if not clear:
        return field == term
    if model is Customer and column in search.FTS_COLUMNS:
        return indexed_fragment([column], term)
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


def email(model, column, term, clear):
    return getattr(model, column) == term if "@" in term else None


def prefix(model, column, term, clear):
    """Codes such as HB-IT-2024-001: only Latin letters, digits and hyphens can match."""
    if not CODE_CHARS.fullmatch(term):
        return None
    field = getattr(model, column)
    return _range(field, term.upper()) if clear else field == term.upper()


def sealed_exact(model, column, term, clear):
    """ID and bank card numbers: digits (and the ID check letter X) only, compared by digest."""
    if not SEALED_CHARS.fullmatch(sealed.normalise(term)):
        return None
    found = sealed.digests(term)  # one digest; during a key rotation one per configured key
    field = getattr(model, column + "_digest")
    return field == found[0] if len(found) == 1 else field.in_(found)


# A term that cannot match a column adds nothing to the query (returns None), which keeps
# the id union short: a Chinese name is looked up in the name index only.
CODE_CHARS = re.compile(r"[A-Za-z0-9-]+")
SEALED_CHARS = re.compile(r"[0-9X]{6,}")

KINDS = {"fragment": fragment, "mobile": mobile, "exact": exact, "email": email, "prefix": prefix,
         "sealed": sealed_exact}


def condition(model, kinds, term, is_clear):
    """Rows where any searchable column matches `term`; None when nothing can match.

    Written as `id IN (SELECT id ... UNION SELECT id ...)` rather than an OR of the parts:
    with ORDER BY id LIMIT, SQLite otherwise prefers walking the whole table in id order,
    hoping to meet matches early, which costs a full scan when there are few or none.
    A dense fragment (see models.search.is_dense) is the exception: it is OR-ed outside the
    id set, so the walk in id order stops after one page of matches.
    """
    pk = model._meta.primary_key
    ids, scans = None, []
    parts = []
    if model is Customer:
        # One trigram lookup for all clear fragment columns: the index is shared by the
        # columns, so a lookup per column would decode the same lists again.
        grouped = [c for c, k in kinds.items() if k == "fragment" and is_clear(c) and c in search.FTS_COLUMNS]
        if grouped:
            parts.append(indexed_fragment(grouped, term))
            kinds = {c: k for c, k in kinds.items() if c not in grouped}
    parts += [KINDS[kind](model, column, term, is_clear(column)) for column, kind in kinds.items()]
    for part in parts:
        if isinstance(part, Scan):
            scans.append(part.expression)
        elif part is not None:
            select = model.select(pk).where(part)
            ids = select if ids is None else (ids | select)
    result = None if ids is None else pk.in_(ids)
    for scan in scans:
        result = scan if result is None else (result | scan)
    return result


def terms(text):
    """Split a search string into words; a number typed in groups ('138 1234 5678',
    '6222 0212 3456 7890') stays one term."""
    text = (text or "").strip()
    if not text:
        return []
    if NUMBER_IN_GROUPS.fullmatch(text):
        return [text]
    return text.split()


NUMBER_IN_GROUPS = re.compile(r"\+?[0-9][0-9 \-]*[0-9Xx]")
