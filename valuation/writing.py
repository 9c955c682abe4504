"""Writing the refreshed table in bulk, per backend (a registry, as analytics.engines picks its engines).

    with writing.replacing() as write:      # one transaction; concurrent refreshes take turns
        write(frame)                         # every old row deleted, the frame's rows inserted
        ValueRefresh.create(...)             # in the same transaction

Rows go straight through the DB-API cursor (executemany on SQLite, COPY into a temporary table on PostgreSQL,
then three set-based statements; as demo.loader does),
never one statement per customer and never through Model.insert_many, whose per-value query building costs
more than the database spends storing it.  Rows carry what the columns store: money as floats rounded to
cents, times as 'YYYY-MM-DD HH:MM:SS' text, the customer's id.

SQLite: with foreign keys enforced, DELETE visits every row to look for rows that refer to it (1.2 s per
100,000 rows here) where without them it empties the table at once; so the transaction runs with the
connection's foreign key checks off, and instead one anti-join at the end drops any row whose customer was
deleted meanwhile (the ids were read moments before; customer deletes still cascade afterwards).
"""
import contextlib
import csv
import io

from models import Customer, CustomerValue, db, is_sqlite

FIELDS = ("customer", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at", "as_of", "refreshed_at")
CHUNK = 100_000  # rows per executemany / COPY: the tuples of a million customers need not exist at once


def _columns():
    return [CustomerValue._meta.fields[name].column_name for name in FIELDS]


def _table():
    return CustomerValue._meta.table_name


def _tuples(frame):
    """The frame's rows as tuples, NaN as None, column by column (a frame-wide astype(object) is 5x slower)."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if column.hasnans:
            column = column.astype(object).where(column.notna(), None)
        columns.append(column.tolist())
    return zip(*columns)


class SqliteWriter:
    @contextlib.contextmanager
    def replacing(self):
        enforced = db.execute_sql("PRAGMA foreign_keys").fetchone()[0]
        db.execute_sql("PRAGMA foreign_keys = OFF")  # a no-op inside an outer transaction: then just slower
        try:
            # BEGIN IMMEDIATE (models.base): SQLite's write lock, so two refreshes take turns
            with db.atomic():
                yield self.write
                CustomerValue.delete().where(CustomerValue.customer.not_in(Customer.select(Customer.id))).execute()
        finally:
            if enforced:
                db.execute_sql("PRAGMA foreign_keys = ON")

    def write(self, frame):
        CustomerValue.delete().execute()
        columns = _columns()
        quoted = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{_table()}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
        cursor = db.cursor()
        # The indexes are built again after the rows are in (one sorted pass each, a third of the write's time
        # at 1M rows) rather than updated row by row; inside the transaction, so WAL readers keep the old table
        # with its indexes, and a duplicate customer fails the unique index and rolls everything back.
        CustomerValue._schema.drop_indexes(safe=True)
        for start in range(0, len(frame), CHUNK):
            cursor.executemany(sql, _tuples(frame.iloc[start:start + CHUNK]))
        CustomerValue._schema.create_indexes(safe=True)


class PostgresWriter:
    """The rows go by COPY into a temporary table, and from there the table is brought level in three
    set-based statements: UPDATE the rows of customers already in it, INSERT the new customers' (those
    still in the customer table), DELETE the rows of customers no longer in the frame.

    Not DELETE everything and COPY back (as before): each inserted row then paid a foreign-key check
    (a query and a row lock on the customer per row) and a unique-index check that visits the customer's
    old, just deleted row; an UPDATE that keeps customer_id skips both.  1M rows here: 26 s of the
    server's CPU against 16 s (docs/values.md)."""

    @contextlib.contextmanager
    def replacing(self):
        with db.atomic():
            # Two refreshes at once would both delete and then both insert (a unique violation): one waits.
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('customer_value.refresh'))")
            db.execute_sql("SET LOCAL work_mem = '256MB'")  # the joins below hash a million rows in memory
            yield self.write

    def write(self, frame):
        names = [f'"{c}"' for c in _columns()]
        columns = ", ".join(names)
        table, new = f'"{_table()}"', f'pg_temp."{_table()}_new"'  # pg_temp: never a table of the schema
        db.execute_sql(f"DROP TABLE IF EXISTS {new}")  # left by a failed write earlier in an outer transaction
        db.execute_sql(f"CREATE TEMPORARY TABLE {new} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
        sql = f"COPY {new} ({columns}) FROM STDIN WITH (FORMAT csv)"
        cursor = db.cursor()
        for start in range(0, len(frame), CHUNK):
            buffer = io.StringIO()
            # The csv module writes in C (DataFrame.to_csv took twice as long); None is written as an unquoted
            # empty field, which is NULL in CSV: the LTV and last order of customers without one.
            csv.writer(buffer).writerows(_tuples(frame.iloc[start:start + CHUNK]))
            buffer.seek(0)
            if hasattr(cursor, "copy_expert"):  # psycopg2
                cursor.copy_expert(sql, buffer)
            else:  # psycopg 3
                with cursor.copy(sql) as copy:
                    copy.write(buffer.getvalue())
        db.execute_sql(f"ANALYZE {new}")  # a temporary table has no statistics: the planner would guess
        key = names[0]  # customer_id
        others = names[1:]
        db.execute_sql(f"UPDATE {table} AS v SET ({', '.join(others)}) = "
                       f"({', '.join('n.' + c for c in others)}) FROM {new} AS n WHERE v.{key} = n.{key}")
        customer = Customer._meta
        db.execute_sql(f"INSERT INTO {table} ({columns}) SELECT {', '.join('n.' + c for c in names)} "
                       f'FROM {new} AS n JOIN "{customer.table_name}" AS c ON c."{customer.primary_key.column_name}" '
                       f"= n.{key} WHERE NOT EXISTS (SELECT 1 FROM {table} AS v WHERE v.{key} = n.{key})")
        db.execute_sql(f"DELETE FROM {table} AS v WHERE NOT EXISTS (SELECT 1 FROM {new} AS n WHERE n.{key} = v.{key})")


WRITERS = {"sqlite": SqliteWriter(), "postgresql": PostgresWriter()}


def current():
    return WRITERS["sqlite" if is_sqlite() else "postgresql"]


def replacing():
    """A transaction in which write(frame) replaces every row of the table with `frame` (columns FIELDS)."""
    writer = current()

    @contextlib.contextmanager
    def scope():
        with writer.replacing() as write:
            yield lambda frame: write(frame[list(FIELDS)])

    return scope()
