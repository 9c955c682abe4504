"""Every table's row count and (optionally) a content checksum, set-based, on a DB-API cursor.

They run inside the backup's own snapshot (the SQLite online-backup copy, the transaction whose snapshot
pg_dump uses) so the manifest describes exactly what the file holds, and again after a restore.

A checksum is order-independent: the sum of a 60-bit hash of each row's text.  On PostgreSQL it is one
aggregate over md5(row::text); SQLite has no hash function, so a small aggregate is registered on the
connection (Python per row: opt-in, `--checksums`).  Checksums compare within one kind of database.
"""
import hashlib
import sqlite3


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def sqlite_tables(connection):
    """Real tables of a SQLite database (FTS5's virtual table is left out: its shadow tables hold its data)."""
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name").fetchall()
    return [name for (name,) in rows]


def postgres_tables(cursor, schema):
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,))
    return [name for (name,) in cursor.fetchall()]


def _union(parts):
    return " UNION ALL ".join(parts)


def sqlite_counts(connection, tables):
    if not tables:
        return {}
    sql = _union(f"SELECT {_literal(t)}, count(*) FROM {quote(t)}" for t in tables)
    return {name: count for name, count in connection.execute(sql).fetchall()}


def postgres_counts(cursor, schema, tables):
    if not tables:
        return {}
    cursor.execute(_union(f"SELECT {_literal(t)}, count(*) FROM {quote(schema)}.{quote(t)}" for t in tables))
    return {name: count for name, count in cursor.fetchall()}


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


class _RowSum:
    """SQLite aggregate: sum mod 2**60 of the first 60 bits of sha256(repr(row))."""

    def __init__(self):
        self.total = 0

    def step(self, *values):
        self.total = (self.total + (int.from_bytes(hashlib.sha256(repr(values).encode()).digest()[:8], "big") >> 4)) \
            % (1 << 60)

    def finalize(self):
        return str(self.total)


def sqlite_checksums(connection, tables):
    connection.create_aggregate("crm_rowsum", -1, _RowSum)
    found = {}
    for table in tables:
        columns = [row[1] for row in connection.execute(f"PRAGMA table_info({quote(table)})").fetchall()]
        listed = ", ".join(quote(c) for c in columns)
        (value,) = connection.execute(f"SELECT crm_rowsum({listed}) FROM {quote(table)}").fetchone()
        found[table] = value or "0"
    return found


POSTGRES_ROWSUM = "coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text"


def postgres_checksums(cursor, schema, tables):
    if not tables:
        return {}
    cursor.execute(_union(f"SELECT {_literal(t)}, {POSTGRES_ROWSUM} FROM {quote(schema)}.{quote(t)} AS t"
                          for t in tables))
    return {name: value for name, value in cursor.fetchall()}


def postgres_check_sql(schema, counts, checksums=None):
    """A DO block that raises (and so rolls the restore's transaction back) when a table's rows differ."""
    lines = ["DO $crm_check$", "DECLARE found text;", "BEGIN"]
    for table, count in sorted(counts.items()):
        target = f"{quote(schema)}.{quote(table)}"
        lines.append(f"  SELECT count(*)::text INTO found FROM {target};")
        lines.append(f"  IF found IS DISTINCT FROM '{int(count)}' THEN RAISE EXCEPTION 'CRM-RESTORE-MISMATCH "
                     f"{_literal(table)[1:-1]} rows % expected {int(count)}', found; END IF;")
    for table, value in sorted((checksums or {}).items()):
        target = f"{quote(schema)}.{quote(table)}"
        lines.append(f"  SELECT {POSTGRES_ROWSUM} INTO found FROM {target} AS t;")
        lines.append(f"  IF found IS DISTINCT FROM {_literal(value)} THEN RAISE EXCEPTION 'CRM-RESTORE-MISMATCH "
                     f"{_literal(table)[1:-1]} checksum'; END IF;")
    lines += ["END", "$crm_check$;", ""]
    return "\n".join(lines)


def open_sqlite(path):
    connection = sqlite3.connect(path, timeout=30)
    connection.execute("PRAGMA busy_timeout = 30000")
    return connection
