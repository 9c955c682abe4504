"""The check's per-row duplicate lookups kept on their indexes inside the import's one transaction.

A check (dry run) asks, for every new row, which stored customers it probably repeats
(dedup.probable_duplicates: equal mobile, e-mail or ID digest, or a name containing the row's core).
Inside the import's transaction the rows rehearsed so far are in the table, uncommitted.  On
PostgreSQL each insert also lands in the pending list of the trigram (GIN) indexes, which every
search of such an index reads in full and which is only merged into the index once it reaches
gin_pending_list_limit (4 MB by default): the planner costs the index by that list and, the table
never analysed inside the transaction, chose a sequential scan of the whole customer table for
every row, so each lookup read every row rehearsed before it (quadratic: a 50,000-row check took
~23 minutes, the import of the same file ~1 minute).  An ANALYZE after the first chunk did not
change the plan (the pending list, not the row count, makes the index look dear).  So:

- for_lookups(): at the start of a check's transaction the pending list is kept small (64 kB, the
  least PostgreSQL allows, for this transaction only), so searches do not reread the rehearsal's
  inserts;
- indexed_lookups(): while the lookups of a chunk run, sequential and plain index-order scans are
  off for the transaction, which leaves the bitmap scans of the very indexes the lookup is written
  for (dedup.probe: "indexed lookups only"); the settings are put back before the chunk is written.

The rows found are the same (the same query, another plan).  A real import makes no lookups and
keeps PostgreSQL's defaults.  SQLite's lookup is an explicit rowid subquery on its FTS5 index and
needs neither.
"""
from contextlib import contextmanager

from models import db, is_sqlite

PENDING_LIST_KB = 64  # PostgreSQL's minimum gin_pending_list_limit
_INDEXED_ONLY = ("enable_seqscan", "enable_indexscan")  # the plans a lookup may not use


def for_lookups():
    """Inside the transaction of a run that looks rows up as it writes them (a check): the GIN pending
    list kept small until the transaction ends (SET LOCAL)."""
    if not is_sqlite():
        db.execute_sql(f"SET LOCAL gin_pending_list_limit = {PENDING_LIST_KB}")


@contextmanager
def indexed_lookups():
    """Inside the import's transaction: the duplicate lookups of one chunk planned on bitmap index scans."""
    if is_sqlite():
        yield
        return
    before = db.execute_sql("SELECT " + ", ".join("current_setting(%s)" for _ in _INDEXED_ONLY),
                            list(_INDEXED_ONLY)).fetchone()
    for name in _INDEXED_ONLY:
        db.execute_sql(f"SET LOCAL {name} = off")
    try:
        yield
    finally:
        for name, value in zip(_INDEXED_ONLY, before):
            db.execute_sql("SELECT set_config(%s, %s, true)", [name, value])
