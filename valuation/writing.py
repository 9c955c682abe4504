"""Writing the refreshed table in bulk, per backend (a registry, as analytics.engines picks its engines).

    with writing.replacing() as write:      # one transaction; concurrent refreshes take turns
        write(frame)                         # every old row deleted, the frame's rows inserted
        ValueRefresh.create(...)             # in the same transaction

Rows go straight through the DB-API cursor (executemany on SQLite, COPY into a new table that then takes the
table's place on PostgreSQL; as demo.loader does),
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
    """The new rows go into a new table, which then takes the old one's place (a swap, in the transaction).

    The rows are COPYed into `customer_value__next`, made LIKE the table (columns, defaults, NOT NULL; the
    id keeps drawing from the table's sequence), with no index and no foreign key yet; rows of customers
    deleted meanwhile are dropped by one anti-join; then the old table's indexes and constraints are made
    again on it from their own definitions (pg_get_indexdef, pg_get_constraintdef: one sorted build per
    index, the foreign key checked by one query), the sequence is handed over, the old table dropped and
    the new one renamed, with its indexes and constraints, to the old names.

    Why not DELETE and COPY into the table (as before), or UPDATE it from a temporary table: every row then
    paid a foreign-key check (a query and a lock on its customer's row) and a unique-index check visiting its
    own old version, 26 s (DELETE + COPY) or 16 s (UPDATE) of the server's CPU for a million rows here,
    against 5 s for the swap; under the shared machine's load the write of the 1M benchmark took 47-95 s.

    Readers see the old table or the new one, never half (DDL is transactional in PostgreSQL).  They wait
    only for the swap at the end (the DROP takes the table's exclusive lock until the commit, milliseconds
    later), and writes to the customer table wait while the new foreign key is checked (about a second at
    1M customers) until the commit: the refresh is the nightly job's.  Grants on the table are not carried
    over: the application's role owns it."""

    @contextlib.contextmanager
    def replacing(self):
        with db.atomic():
            # Two refreshes at once would both build the next table: one waits.
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('customer_value.refresh'))")
            db.execute_sql("SET LOCAL maintenance_work_mem = '256MB'")  # each index built in one sort in memory
            yield self.write

    def write(self, frame):
        table = _table()
        nxt = f"{table}__next"
        columns = ", ".join(f'"{c}"' for c in _columns())
        db.execute_sql(f'DROP TABLE IF EXISTS "{nxt}"')  # left by a failed write earlier in an outer transaction
        db.execute_sql(f'CREATE TABLE "{nxt}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        sql = f'COPY "{nxt}" ({columns}) FROM STDIN WITH (FORMAT csv)'
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
        customer = Customer._meta
        key = CustomerValue.customer.column_name
        db.execute_sql(f'DELETE FROM "{nxt}" AS n WHERE NOT EXISTS (SELECT 1 FROM "{customer.table_name}" AS c '
                       f'WHERE c."{customer.primary_key.column_name}" = n."{key}")')
        renames = self._rebuild(table, nxt)
        sequences = db.execute_sql(
            "SELECT a.attname, pg_get_serial_sequence(%s, a.attname) FROM pg_attribute a WHERE a.attrelid = %s::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped AND pg_get_serial_sequence(%s, a.attname) IS NOT NULL",
            (f'"{table}"', f'"{table}"', f'"{table}"')).fetchall()
        for column, sequence in sequences:  # dropping the table would drop the sequence it owns
            db.execute_sql(f'ALTER SEQUENCE {sequence} OWNED BY "{nxt}"."{column}"')
        db.execute_sql(f'DROP TABLE "{table}"')
        db.execute_sql(f'ALTER TABLE "{nxt}" RENAME TO "{table}"')
        for statement in renames:
            db.execute_sql(statement)
        db.execute_sql(f'ANALYZE "{table}"')  # a new table has no statistics yet

    @staticmethod
    def _rebuild(table, nxt):
        """Make the indexes and constraints of `table` on `nxt` under temporary names (names are unique per
        schema); return the statements that give them the old names once `table` is gone."""
        renames = []
        constraints = db.execute_sql(
            "SELECT conname, pg_get_constraintdef(oid), conindid FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('p', 'u', 'f', 'x') ORDER BY contype = 'f', conname", (f'"{table}"',)).fetchall()
        behind = {index for _, _, index in constraints if index}
        indexes = db.execute_sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indexrelid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass ORDER BY c.relname",
            (f'"{table}"',)).fetchall()
        for name, definition, oid in indexes:
            if oid in behind:  # made with its constraint below
                continue
            head, _, rest = definition.partition(" ON ")
            columns = rest[rest.index(" USING "):]
            head = head[:head.rindex(" ")]  # "CREATE [UNIQUE] INDEX"
            db.execute_sql(f'{head} "{name}__next" ON "{nxt}"{columns}')
            renames.append(f'ALTER INDEX "{name}__next" RENAME TO "{name}"')
        for name, definition, _ in constraints:  # the primary key first, the foreign key (checked by one query) last
            db.execute_sql(f'ALTER TABLE "{nxt}" ADD CONSTRAINT "{name}__next" {definition}')
            renames.append(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{name}__next" TO "{name}"')
        return renames


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
