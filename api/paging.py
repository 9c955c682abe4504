"""Keyset pagination: pages follow the records' ids, and the cursor is opaque to the caller.

A page is `{"items": [...], "next_cursor": "..."}`; the next page is asked with ?cursor=<next_cursor> and the
same filters.  A cursor names the last id shown, so records added or changed meanwhile never shift a page
(OFFSET pages skip or repeat rows when rows are inserted before them) and a page costs one index range scan
however deep it is.  next_cursor is null on the last page.
"""
import base64
import json

from pydantic import Field

from .errors import ApiError
from .openapi import Query

VERSION = 1


def encode(last_id):
    raw = json.dumps({"v": VERSION, "after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor):
    """The last id of the previous page; 400 for a cursor this API did not give."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        after = data["after"] if data.get("v") == VERSION else None
    except (ValueError, TypeError, KeyError, AttributeError):
        after = None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
        raise ApiError(400, "cursor_invalid", "分页游标无效：请使用上一页返回的 next_cursor",
                       errors=[{"field": "cursor", "message": "游标无效"}])
    return after


def page(query, id_column, after, limit):
    """(rows, next_cursor) of `query` after id `after`, `limit` rows, in id order."""
    if after is not None:
        query = query.where(id_column > after)
    rows = list(query.order_by(id_column).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode(rows[-1].id) if more and rows else None)


class PageQuery(Query):
    cursor: str | None = Field(None, description="上一页返回的 next_cursor；第一页不填")
    limit: int = Field(50, ge=1, le=200, description="每页条数，1-200，默认 50")
