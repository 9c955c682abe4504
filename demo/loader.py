"""Bulk loading: empty the record tables, then insert prepared rows fast on SQLite and PostgreSQL.

Rows go straight to the DB-API cursor (executemany on SQLite, COPY on PostgreSQL)
instead of through Model.insert_many: building a peewee query costs more per value
than the database spends storing it.  That also means no field converts
values on the way in, so rows carry what the column stores: ciphertext for sealed
columns, 'YYYY-MM-DD HH:MM:SS' text for times, ids for foreign keys.
"""
import contextlib
import csv
import io

from models import Customer, Tag, db, is_sqlite, search


def record_models():
    """Customer, Tag and every model hanging off them, children before parents."""
    ordered = []

    def visit(model):
        for child in model._meta.backrefs.values():
            if child is not model:
                visit(child)
        if model not in ordered:
            ordered.append(model)

    visit(Customer)
    visit(Tag)
    return ordered


def reset():
    """Delete customers and everything hanging off them, and the tags; users and lists stay."""
    tables = record_models()
    if is_sqlite():
        # SQLite empties a table at once only when no trigger or foreign key asks to see
        # each row; everything referring to these rows goes too, so nothing is left dangling.
        search.drop_triggers()
        with foreign_keys_off():
            with db.atomic():
                db.execute_sql("INSERT INTO customer_fts(customer_fts) VALUES ('delete-all')")
                for model in tables:
                    db.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
    else:
        names = ", ".join(f'"{m._meta.table_name}"' for m in tables)
        with db.atomic():
            db.execute_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@contextlib.contextmanager
def foreign_keys_off():
    """SQLite: suspend foreign key enforcement on this connection (a no-op inside a transaction)."""
    enforced = db.execute_sql("PRAGMA foreign_keys").fetchone()[0]
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if enforced:
            db.execute_sql("PRAGMA foreign_keys = ON")


def before_load(models):
    """Take the indexes off the empty tables: building one from the loaded rows in a single
    sorted pass is much cheaper than updating a dozen b-trees at random for every row."""
    search.drop_triggers()
    if not is_sqlite():
        _foreign_keys.clear()
        for model in models:
            _foreign_keys.extend(_drop_foreign_keys(model._meta.table_name))
    for model in models:
        model._schema.drop_indexes(safe=True)


def after_load(models):
    """Recreate the indexes (unique ones check the data on the way), the search index and
    its upkeep; sync id sequences."""
    for model in models:
        model._schema.create_indexes(safe=True)
    while _foreign_keys:
        table, name, definition = _foreign_keys.pop()
        db.execute_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    search.rebuild()
    search.install()
    if not is_sqlite():
        # Customers were inserted with explicit ids, which does not advance the serial.
        db.execute_sql("SELECT setval(pg_get_serial_sequence('customer', 'id'), "
                       "COALESCE((SELECT MAX(id) FROM customer), 0) + 1, false)")


# PostgreSQL checks a foreign key by a trigger per inserted row; re-adding the constraint
# after the load checks all rows in one join.  Held here between before_load and after_load.
_foreign_keys = []


def _drop_foreign_keys(table):
    """Drop `table`'s foreign keys; returns (table, name, definition) to re-add them exactly."""
    found = db.execute_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (f'"{table}"',),
    ).fetchall()
    for name, _ in found:
        db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    return [(table, name, definition) for name, definition in found]


class Writer:
    """Inserts rows laid out as `fields` (model field names) into `model`'s table."""

    def __init__(self, model, fields):
        by_name = model._meta.fields
        self.columns = [by_name[name].column_name for name in fields]
        # Fields added to the model later that the demo does not know about get their default,
        # so a NOT NULL column with a Python-side default does not break the load.
        self.extra = [f for f in model._meta.sorted_fields
                      if f.name not in fields and not f.primary_key and f.default is not None]
        self.columns += [f.column_name for f in self.extra]
        quoted = ", ".join(f'"{c}"' for c in self.columns)
        self.model = model
        self.table = model._meta.table_name
        self.sqlite = is_sqlite()
        if self.sqlite:
            marks = ", ".join("?" * len(self.columns))
            self.sql = f'INSERT INTO "{self.table}" ({quoted}) VALUES ({marks})'
        else:
            # CSV, because the csv module quotes in C; an unquoted empty field is NULL (None),
            # so the rows must not hold empty strings, which the generator never makes.
            self.sql = f'COPY "{self.table}" ({quoted}) FROM STDIN WITH (FORMAT csv)'

    def _with_defaults(self, rows):
        values = tuple(f.db_value(f.default() if callable(f.default) else f.default) for f in self.extra)
        return [tuple(row) + values for row in rows]

    def write(self, rows):
        if not rows:
            return
        if self.extra:
            rows = self._with_defaults(rows)
        cursor = db.cursor()
        if self.sqlite:
            cursor.executemany(self.sql, rows)
        else:
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            cursor.copy_expert(self.sql, buffer)
