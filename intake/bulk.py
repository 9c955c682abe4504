"""Bulk inserts for the import engine: the DB-API cursor instead of a Peewee query per batch.

    ids = bulk.next_ids(Customer, len(rows))          # the ids the new rows will have
    bulk.insert(Customer, ["id", "code", ...], rows)  # rows: tuples of Python values, in that order

Both run inside the caller's transaction.  SQLite: executemany of one prepared INSERT (the
transaction holds the write lock from its BEGIN IMMEDIATE, so the ids after max(id) are ours);
PostgreSQL: ids drawn from the table's sequence and the rows sent with COPY ... FROM STDIN.
Values are converted as Peewee would store them: sealed columns are sealed, JSON columns encoded;
dates, times and decimals go through the driver's adapters (Peewee registers SQLite's).
"""
import io

from models import db, is_sqlite
from models.imports import JSONText
from models.sealed import SealedField


def _converters(model, names):
    fields = [model._meta.fields[name] for name in names]
    columns = [field.column_name for field in fields]
    convert = [(position, field.db_value) for position, field in enumerate(fields)
               if isinstance(field, (SealedField, JSONText))]
    return columns, convert


def next_ids(model, count):
    """`count` new ids for `model`'s table, reserved for this transaction."""
    if not count:
        return []
    table = model._meta.table_name
    if is_sqlite():
        start = db.execute_sql(f'SELECT max(id) FROM "{table}"').fetchone()[0] or 0
        return list(range(start + 1, start + count + 1))
    cursor = db.execute_sql("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                            (table, count))
    return [row[0] for row in cursor.fetchall()]


def insert(model, names, rows):
    """INSERT `rows` (tuples in the order of `names`, Python values) into `model`'s table."""
    if not rows:
        return
    columns, convert = _converters(model, names)
    if convert:
        converted = []
        for row in rows:
            row = list(row)
            for position, db_value in convert:
                if row[position] is not None:
                    row[position] = db_value(row[position])
            converted.append(row)
        rows = converted
    table = model._meta.table_name
    quoted = ", ".join(f'"{column}"' for column in columns)
    if is_sqlite():
        sql = f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
        db.cursor().executemany(sql, rows)
        return
    buffer = io.StringIO()
    write = buffer.write
    for row in rows:
        write("\t".join(_copy_text(value) for value in row))
        write("\n")
    buffer.seek(0)
    db.cursor().copy_expert(f'COPY "{table}" ({quoted}) FROM STDIN', buffer)


def record_created(batch_id, model_key, model, ids, names):
    """The undo record (ImportChange, action "created") of the rows `ids` of `model` this transaction has
    just inserted, set-based: one INSERT ... SELECT that has the database write each row's `after` (the
    JSON of `names`) from the stored row, instead of a dict and a json.dumps per row in Python.  The JSON
    holds what the per-row record held: money as text with its places, times as stored text
    ("2024-01-15 10:00:00"), a foreign key by its field name."""
    if not ids:
        return
    from peewee import DateField, DateTimeField, DecimalField, ForeignKeyField

    from models import ImportChange

    sqlite = is_sqlite()
    pairs = []
    for name in names:
        field = model._meta.fields[name]
        column = f'"{field.column_name}"'
        if isinstance(field, DecimalField) and not isinstance(field, ForeignKeyField):
            places = int(field.decimal_places)
            value = (f"CASE WHEN {column} IS NULL THEN NULL ELSE printf('%.{places}f', {column}) END" if sqlite
                     else f"{column}::text")
        elif isinstance(field, (DateTimeField, DateField)):
            value = column if sqlite else f"{column}::text"
        else:
            value = column
        pairs.append(f"'{name}', {value}")
    document = (f"json_object({', '.join(pairs)})" if sqlite else f"json_build_object({', '.join(pairs)})::text")
    target = ImportChange._meta
    columns = ", ".join(f'"{target.fields[n].column_name}"' for n in ("batch", "model", "record_id", "action",
                                                                        "before", "after"))
    mark = db.param
    select = (f'INSERT INTO "{target.table_name}" ({columns}) SELECT {mark}, {mark}, "id", {mark}, NULL, {document} '
              f'FROM "{model._meta.table_name}" WHERE ')
    ids = sorted(ids)
    if ids[-1] - ids[0] + 1 == len(ids):  # the usual case: a run of ids (SQLite's always are)
        db.execute_sql(select + f'"id" BETWEEN {mark} AND {mark} ORDER BY "id"',
                       (batch_id, model_key, "created", ids[0], ids[-1]))
        return
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        db.execute_sql(select + f'"id" IN ({", ".join([mark] * len(part))}) ORDER BY "id"',
                       (batch_id, model_key, "created", *part))


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value):
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) \
            else value
    return str(value)
