"""The audit entries of a sync call: one per created or changed record, plus one per call.

Created records are audited set-based, by one INSERT ... SELECT that has the database write each entry's JSON
from the stored row (as intake.bulk.record_created writes the undo record), instead of a dict and a json.dumps
per record in Python: at 10,000 new orders a call that was a third of the call's time.  Changed records are
few and their old values are in hand: their entries are made in Python and inserted in one batch.
"""
import json

from peewee import DateField, DateTimeField, DecimalField, ForeignKeyField

from intake import bulk
from models import AuditLog, db, is_sqlite

COLUMNS = ["at", "username", "action", "model", "record_id", "changes", "ip"]


def _as_json_value(field, sqlite):
    """SQL of the column's value as the per-record entries show it: money with its places, times as stored."""
    column = f'"{field.column_name}"'
    if isinstance(field, DecimalField) and not isinstance(field, ForeignKeyField):
        places = int(field.decimal_places)
        return (f"CASE WHEN {column} IS NULL THEN NULL ELSE printf('%.{places}f', {column}) END" if sqlite
                else f"{column}::text")
    if isinstance(field, (DateTimeField, DateField)) and not sqlite:
        return f"{column}::text"
    return column


def created(model, model_key, names, ids, at, username, stamp, ip):
    """An audit entry `create` for each of the records `ids` of `model` this transaction inserted: its columns
    `names` as [null, value] and the `stamp` (e.g. {"api_token": name})."""
    if not ids:
        return
    sqlite = is_sqlite()
    pair = "json_array(NULL, {})" if sqlite else "json_build_array(NULL, {})"
    parts = [f"'{name}', {pair.format(_as_json_value(model._meta.fields[name], sqlite))}" for name in names]
    mark = db.param
    for key in stamp:
        parts.append(f"'{key}', " + (mark if sqlite else f"CAST({mark} AS text)"))
    document = f"json_object({', '.join(parts)})" if sqlite else f"json_build_object({', '.join(parts)})::text"
    moment = mark if sqlite else f"CAST({mark} AS timestamp)"
    text = mark if sqlite else f"CAST({mark} AS text)"
    target = ", ".join(f'"{AuditLog._meta.fields[name].column_name}"' for name in COLUMNS)
    # the SELECT list in the table's column order: at, username, action, model, record_id, changes, ip
    select = (f'INSERT INTO "{AuditLog._meta.table_name}" ({target}) SELECT {moment}, {text}, {text}, {text}, '
              f'CAST("id" AS TEXT), {document}, {text} FROM "{model._meta.table_name}" WHERE ')
    values = (at, username, "create", model_key, *stamp.values(), ip)  # in the order of their marks
    ids = sorted(ids)
    if ids[-1] - ids[0] + 1 == len(ids):  # a run of ids (SQLite's always are)
        db.execute_sql(select + f'"id" BETWEEN {mark} AND {mark} ORDER BY "id"', (*values, ids[0], ids[-1]))
        return
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        db.execute_sql(select + f'"id" IN ({", ".join([mark] * len(part))}) ORDER BY "id"', (*values, *part))


def updated(model_key, changes, at, username, stamp, ip):
    """An audit entry `update` per changed record: [(record id, {field: old}, {field: new})]."""
    entries = []
    for record_id, before, after in changes:
        document = {name: [before[name], after[name]] for name in after}
        entries.append((at, username, "update", model_key, str(record_id),
                        json.dumps({**document, **stamp}, ensure_ascii=False), ip))
    bulk.insert(AuditLog, COLUMNS, entries)
