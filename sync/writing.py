"""Set-based writes of checked rows: new records in one bulk INSERT per call, changed ones in one batched
UPDATE, inside the caller's transaction; rows whose values equal the stored ones are not written at all.

A Writer per kind (a registry in sync.upsert) says which columns a new record gets and which stored columns
an item may change.  Each returns the Changes it made, which the caller records for undo (ImportChange)
and in the audit log.
"""
from dataclasses import dataclass, field
from decimal import Decimal

from intake import bulk
from intake.kinds import _plain, _same
from models import FollowUp, Order, db, is_sqlite


@dataclass
class Changes:
    created: list = field(default_factory=list)  # ids of the records created
    updated: list = field(default_factory=list)  # [(record id, {field: old}, {field: new})]


def _update_many(model, columns, rows):
    """UPDATE `model` SET columns... WHERE id = ... for every row (tuples: the columns' values, then the id):
    SQLite's executemany of one prepared statement; PostgreSQL's UPDATE ... FROM (VALUES ...) a page at a time."""
    if not rows:
        return
    table = model._meta.table_name
    names = [model._meta.fields[name].column_name for name in columns]
    if is_sqlite():
        assignments = ", ".join(f'"{name}" = ?' for name in names)
        db.cursor().executemany(f'UPDATE "{table}" SET {assignments} WHERE "id" = ?', rows)
        return
    from psycopg2.extras import execute_values

    types = [model._meta.fields[name].field_type for name in columns]
    casts = {"INT": "integer", "DATETIME": "timestamp", "DATE": "date", "DECIMAL": "numeric"}
    template = "(" + ", ".join(f"%s::{casts[t]}" if t in casts else "%s" for t in types) + ", %s::integer)"
    assignments = ", ".join(f'"{name}" = v."{name}"' for name in names)
    value_names = ", ".join(f'"{name}"' for name in names)
    sql = (f'UPDATE "{table}" AS t SET {assignments} FROM (VALUES %s) AS v ({value_names}, "id") '
           f'WHERE t."id" = v."id"')
    execute_values(db.cursor(), sql, rows, template=template, page_size=1000)


class Writer:
    model = None
    model_key = ""
    NEW = ()  # columns of a new record, in order
    STORED = ()  # columns an item may change

    def new_record(self, row, ctx):
        """{column: value} of the record a new row creates."""
        raise NotImplementedError

    def shown(self, name, value):
        """A value as the audit and undo records keep it: money with its places (SQLite gives 1280.50 back as
        1280.5), times as text."""
        places = getattr(self.model._meta.fields[name], "decimal_places", None)
        if isinstance(value, Decimal) and places is not None:
            value = value.quantize(Decimal(1).scaleb(-places))
        return _plain(value)

    def given(self, row):
        """{column: value} of the stored columns an existing row sets (an absent field keeps its value)."""
        raise NotImplementedError

    def write(self, rows, ctx):
        changes = Changes()
        new_rows = [row for row in rows if row.existing is None]
        if new_rows:
            ids = bulk.next_ids(self.model, len(new_rows))
            records = []
            for record_id, row in zip(ids, new_rows):
                record = self.new_record(row, ctx)
                records.append((record_id, *[record[name] for name in self.NEW]))
                row.record_id, row.outcome = record_id, "created"
            bulk.insert(self.model, ["id", *self.NEW], records)
            changes.created = ids  # their undo and audit records are written from the stored rows, set-based
        updates = []
        for row in rows:
            if row.existing is None:
                continue
            record = row.existing
            current = {name: record.__data__.get(name) for name in self.STORED}
            wanted = self.given(row)
            changed = {name: (current[name], new) for name, new in wanted.items() if not _same(current[name], new)}
            row.record_id = record.id
            if not changed:
                row.outcome = "unchanged"
                continue
            row.outcome = "updated"
            merged = {**current, **{name: new for name, (old, new) in changed.items()}}
            updates.append((*[merged[name] for name in self.STORED], record.id))
            changes.updated.append((record.id, {name: self.shown(name, old) for name, (old, new) in changed.items()},
                                    {name: self.shown(name, new) for name, (old, new) in changed.items()}))
        _update_many(self.model, self.STORED, updates)
        return changes


class OrderWriter(Writer):
    model = Order
    model_key = "order"
    NEW = ("customer", "order_no", "ordered_at", "amount", "quantity", "product", "channel")
    STORED = ("customer", "ordered_at", "amount", "quantity", "product", "channel")

    def new_record(self, row, ctx):
        values = row.values
        return {"customer": row.customer_id, "order_no": values["order_no"], "ordered_at": values["ordered_at"],
                "amount": values["amount"], "quantity": values.get("quantity", 1), "product": values.get("product"),
                "channel": values.get("channel")}

    def given(self, row):
        wanted = {name: value for name, value in row.values.items() if name in self.STORED}
        wanted["customer"] = row.customer_id
        return wanted


class FollowUpWriter(Writer):
    model = FollowUp
    model_key = "followup"
    NEW = ("record_no", "customer", "at", "method", "content", "result", "next_date", "user")
    STORED = ("customer", "at", "method", "content", "result", "next_date", "user")

    def new_record(self, row, ctx):
        values = row.values
        return {"record_no": values["record_no"], "customer": row.customer_id, "at": values["at"],
                "method": values["method"], "content": values["content"], "result": values.get("result"),
                "next_date": values.get("next_date"), "user": row.user_id}

    def given(self, row):
        wanted = {name: value for name, value in row.values.items() if name in self.STORED and name != "user"}
        wanted["customer"] = row.customer_id
        if row.user_id is not None:  # 跟进人 named in the item; absent keeps the stored one
            wanted["user"] = row.user_id
        return wanted
