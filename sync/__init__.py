"""Bulk sync of orders and follow-ups from another system (an ERP, a CRM), never imports Flask.

    import sync
    result = sync.upsert("orders", items, user=user, source="API令牌：ERP")          # all or nothing
    result = sync.upsert("followups", items, user=user, source="...", partial=True)  # the good ones
    result.as_dict()   # counts and every rejected item: index, field, value, reason (Chinese)

An item is a JSON object of the import kind's fields by name (intake.kinds: orders by 订单号 `order_no`,
follow-ups by 记录ID `record_no`), up to MAX_ITEMS a call.  Every value is cleaned and checked by the very
code the importer runs per cell and per chunk (intake.engine.check_rows: models.standardise, the number
ranges, references, permissions, row scope); a field the acting user's role may not write (hidden, masked or
read-only) is a per-field error; the second item with a key already in the call names the first.  With any
item rejected nothing is written unless `partial`; re-sending a call changes nothing (no rows, no audit
entries, no batch).  See docs/api.md, Bulk sync.
"""
from .items import MAX_ITEMS, ItemError
from .upsert import KINDS, Result, SyncRefused, upsert

__all__ = ["KINDS", "MAX_ITEMS", "ItemError", "Result", "SyncRefused", "upsert"]
