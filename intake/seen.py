"""The keys an import has met so far (customer code, mobile, order number...) and the row each was
first met on, so the second occurrence of a key inside one file is rejected naming the first row.

Kept in a temporary table of the import's own connection rather than a Python dict: a dict of ten
million order numbers would cost gigabytes, the table costs the same few megabytes of page cache at
any size (SQLite spills temporary tables to a file; PostgreSQL keeps them in the session).  Used a
chunk at a time: one indexed lookup of the chunk's keys, one executemany of the new ones.

    with SeenKeys() as seen:
        first = seen.check([(row_no, key), ...])   # {row_no: first row_no} for keys met before
"""
from models import db, is_sqlite

TABLE = "intake_seen_keys"
LOOKUP = 500  # keys per IN (...) lookup


class SeenKeys:
    def __enter__(self):
        self._sqlite = is_sqlite()
        # the temporary schema by name: never a table of the main schema
        self._drop = f"DROP TABLE IF EXISTS {'temp' if self._sqlite else 'pg_temp'}.{TABLE}"
        db.execute_sql(self._drop)
        db.execute_sql(f"CREATE TEMPORARY TABLE {TABLE} (key TEXT PRIMARY KEY, row_no INTEGER NOT NULL)")
        self._mark = "?" if self._sqlite else "%s"
        return self

    def __exit__(self, *exc):
        try:
            db.execute_sql(self._drop)
        except Exception:  # noqa: BLE001 - the connection may be gone with the error that ends the import
            if exc[0] is None:
                raise
        return False

    def check(self, keyed_rows):
        """keyed_rows: [(row_no, key)] in file order (key a tuple).  Returns {row_no: first row_no}
        for the rows whose key was met on an earlier row, and remembers the others."""
        join = "\x1f".join
        texts = [(row_no, join(map(str, key))) for row_no, key in keyed_rows]
        distinct = list(dict.fromkeys(text for _, text in texts))
        first = {}  # key -> the row it was first met on
        mark = self._mark
        for start in range(0, len(distinct), LOOKUP):
            part = distinct[start:start + LOOKUP]
            cursor = db.execute_sql(f"SELECT key, row_no FROM {TABLE} WHERE key IN ({', '.join([mark] * len(part))})",
                                    part)
            first.update(cursor.fetchall())
        repeats, new = {}, []
        for row_no, text in texts:
            met = first.get(text)
            if met is None:
                first[text] = row_no
                new.append((text, row_no))
            else:
                repeats[row_no] = met
        if new and self._sqlite:
            db.cursor().executemany(f"INSERT INTO {TABLE} (key, row_no) VALUES (?, ?)", new)
        elif new:  # psycopg2's executemany is a round trip per row
            from psycopg2.extras import execute_values

            execute_values(db.cursor(), f"INSERT INTO {TABLE} (key, row_no) VALUES %s", new, page_size=1000)
        return repeats
