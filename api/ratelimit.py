"""The rate limit per token: API_RATE_PER_MINUTE requests a minute, counted in the database so that every server
process counts into one number (models.tokens.record_use: a row per token and minute).

Counting is a write.  On SQLite one writer holds the whole file, so while a long import writes, a count would
queue behind it and a plain GET would end in 503 after DATABASE_BUSY_SECONDS.  So the count is asked for with a
short wait, by what the request may do:

- **a read** (GET, HEAD, OPTIONS) waits at most READ_WAIT_SECONDS.  If the counter cannot be written by then, the
  read is let through uncounted (a read needs no write lock to be answered: WAL readers never wait for the
  writer), and the process *owes* the count: the owed reads are added to the token's row by its next count that
  gets written, so the shared number catches up.  Meanwhile the process still refuses a token past its limit by
  what it knows: the count it last read from the database plus the reads it owes.  The first read let through
  this way while the database is busy is logged (one warning per busy spell, not one per request).
- **a write** waits the full budget, as it would for its own write a moment later, and ends in the usual
  503 系统繁忙 when the database stays busy: a write never passes uncounted.

This follows flask-limiter's in-memory fallback for an unreachable storage, limited to reads; the shared count
stays exact except for the reads of a busy spell, which it receives late (docs/api.md, Rate limit).
"""
import logging
import threading

from models import contention
from models import tokens as token_store

READ_WAIT_SECONDS = 0.2  # how long a read's count waits for the database before the read goes on uncounted
log = logging.getLogger("api.ratelimit")


class Counter:
    """This process's side of the shared count: reads owed to the database and the counts last read from it."""

    def __init__(self):
        self._lock = threading.Lock()
        # keyed by (the token's digest, window): an id can come back for another token (SQLite reuses the id of
        # a deleted row), a digest cannot
        self._owed = {}  # reads let through uncounted
        self._known = {}  # the count last read from the database
        self._busy = False  # in a busy spell (logged once)

    def _forget_before(self, window):
        for table in (self._owed, self._known):
            for key in [key for key in table if key[1] < window]:
                del table[key]

    def count(self, token, moment, write):
        """(hits in this window, seconds left in it) after counting this request; raises the driver's busy error
        for a write (and for a read only when the error is something else than a busy database)."""
        window, _ = token_store.window_of(moment)
        key = (token.token_hash, window)
        with self._lock:
            self._forget_before(window)
            owed = self._owed.pop(key, 0)
        try:
            hits, left = token_store.record_use(token, moment, owed=owed,
                                                wait_seconds=None if write else READ_WAIT_SECONDS)
        except Exception as error:
            with self._lock:
                self._owed[key] = self._owed.get(key, 0) + owed  # still owed: nothing was written
                if write or not contention.is_busy(error):
                    raise
                self._owed[key] += 1
                hits = self._known.get(key, 0) + self._owed[key]
                first, self._busy = not self._busy, True
            if first:
                log.warning("API 限流计数：数据库正忙（其他写入持有锁），读请求暂不计入数据库，稍后补记")
            return hits, token_store.window_of(moment)[1]
        with self._lock:
            self._known[key] = hits
            self._busy = False
        return hits, left


counter = Counter()
