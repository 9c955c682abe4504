"""Writing the refreshed table in bulk, per backend (a registry, as analytics.engines picks its engines).

Each writer replaces every row of customer_value inside the caller's transaction: it first makes concurrent
refreshes take turns, deletes the old rows and inserts the new ones straight through the DB-API cursor
(executemany on SQLite, COPY on PostgreSQL; as demo.loader does), never one statement per customer and never
through Model.insert_many, whose per-value query building costs more than the database spends storing it.

Rows carry what the columns store: money as floats rounded to cents, times as 'YYYY-MM-DD HH:MM:SS' text.
"""
import io

from models import CustomerValue, db, is_sqlite

FIELDS = ("customer", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at", "as_of", "refreshed_at")
CHUNK = 50_000  # rows per executemany: the tuples of a million customers need not exist at once


def _columns():
    return [CustomerValue._meta.fields[name].column_name for name in FIELDS]


def _table():
    return CustomerValue._meta.table_name


class SqliteWriter:
    def take_turn(self):
        """Nothing to do: the transaction began with BEGIN IMMEDIATE (models.base), SQLite's write lock."""

    def write(self, frame):
        columns = _columns()
        quoted = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{_table()}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
        cursor = db.cursor()
        for start in range(0, len(frame), CHUNK):
            part = frame.iloc[start:start + CHUNK]
            rows = part.astype(object).where(part.notna(), None).itertuples(index=False, name=None)
            cursor.executemany(sql, rows)


class PostgresWriter:
    def take_turn(self):
        """Two refreshes at once would both delete and then both insert (a unique violation): one waits."""
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('customer_value.refresh'))")

    def write(self, frame):
        columns = ", ".join(f'"{c}"' for c in _columns())
        sql = f'COPY "{_table()}" ({columns}) FROM STDIN WITH (FORMAT csv)'
        cursor = db.cursor()
        for start in range(0, len(frame), CHUNK * 4):
            buffer = io.StringIO()
            # An unquoted empty field is NULL in CSV: the LTV and last order of customers without one.
            frame.iloc[start:start + CHUNK * 4].to_csv(buffer, header=False, index=False, na_rep="",
                                                       float_format="%.2f")
            buffer.seek(0)
            if hasattr(cursor, "copy_expert"):  # psycopg2
                cursor.copy_expert(sql, buffer)
            else:  # psycopg 3
                with cursor.copy(sql) as copy:
                    copy.write(buffer.getvalue())


WRITERS = {"sqlite": SqliteWriter(), "postgresql": PostgresWriter()}


def current():
    return WRITERS["sqlite" if is_sqlite() else "postgresql"]


def replace_all(frame):
    """Replace the table's rows with `frame` (columns FIELDS, in that order); call inside db.atomic()."""
    writer = current()
    writer.take_turn()
    CustomerValue.delete().execute()
    writer.write(frame[list(FIELDS)])
