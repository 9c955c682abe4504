"""API tokens: per-user credentials for integrations (the REST API under /api/v1/, api/).

A token is shown once, when it is made; only its SHA-256 digest is stored.  A token is 32 random bytes, so
a fast digest is enough (nothing to guess from it, unlike a password) and a request finds its token by
one indexed lookup.  A token acts as its user (same role, row scope and column rules); its scope narrows
that to reading (`read`) or not (`write`).  It stops working when it expires, is revoked, or its user is
inactive or locked out (the API checks those on every request, api/tokens.py).

    token, clear = issue(user, "ERP 同步", days=90, scope="write", now=now, created_by="admin")  # clear: shown once
    found = find(clear)                                                     # ApiToken or None
    revoke(token, now, by="admin")

Issuing and revoking are audited here (AuditLog, model "apitoken"), whoever asks: the admin screen or the CLI.
    hits, left = count_request(token.id, now, window_seconds=60)           # the rate limit's counter
    hits, left = record_use(token, now, owed=2, wait_seconds=0.2)          # count (+ reads owed) and last use

The rate limit's counter is a row per token and minute in the database (ApiRequestWindow), so several
server processes count together.  `record_use` counts and stamps the last use in one transaction that may
wait at most `wait_seconds` for the database (a read must not queue behind a long import: api/ratelimit.py
lets it through uncounted and owes the count to the next write); past that it raises the driver's busy error
(models.contention.is_busy).
"""
import contextlib
import datetime
import hashlib
import json
import secrets

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField

from .base import BaseModel, db, is_sqlite
from .people import AuditLog, User

PREFIX = "crm_"  # marks a string as one of ours (secret scanners, logs)
SCOPES = (("read", "只读"), ("write", "读写"))
SHOWN = 12  # leading characters kept to tell tokens apart on screens (crm_ and 8 random ones)


def digest(clear):
    return hashlib.sha256(clear.encode("utf-8")).hexdigest()


class ApiToken(BaseModel):
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE", index=True)
    name = CharField(max_length=60)  # what it is for, e.g. ERP 同步; written into the audit of its writes
    token_hash = CharField(max_length=64, unique=True)
    shown = CharField(max_length=SHOWN)  # the first characters, to recognise a token in a list
    scope = CharField(max_length=8, choices=SCOPES, default="read")
    created_at = DateTimeField(default=datetime.datetime.now)
    created_by = CharField(max_length=60, null=True)  # username (text: survives the user's deletion)
    expires_at = DateTimeField()
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    revoked_by = CharField(max_length=60, null=True)

    def __str__(self):
        return f"{self.name} ({self.shown}…)"

    @property
    def writes(self):
        return self.scope == "write"

    def state(self, now):
        """active / expired / revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"


class ApiRequestWindow(BaseModel):
    """Requests of one token in one window (window = epoch seconds // window length)."""

    token = ForeignKeyField(ApiToken, on_delete="CASCADE")
    window = IntegerField()
    hits = IntegerField(default=0)

    class Meta:
        indexes = ((("token", "window"), True),)


STATE_LABELS = {"active": "有效", "expired": "已过期", "revoked": "已撤销"}
LONGEST_DAYS = 3650


def _audit(action, token, by, ip, changes):
    AuditLog.create(username=by, action=action, model="apitoken", record_id=str(token.id), ip=ip,
                    changes=json.dumps(changes, ensure_ascii=False, default=str))


def issue(user, name, days, scope, now, created_by=None, ip=None):
    """A new token of `user`: (ApiToken, the clear token), audited.  The clear token is never stored; ValueError
    (a Chinese message) for a bad name, scope or number of days."""
    name = (name or "").strip()
    if not name:
        raise ValueError("请填写令牌名称")
    if len(name) > ApiToken.name.max_length:
        raise ValueError(f"令牌名称最多 {ApiToken.name.max_length} 个字符")
    if scope not in dict(SCOPES):
        raise ValueError("权限范围只能是 read（只读）或 write（读写）")
    if not isinstance(days, int) or not 1 <= days <= LONGEST_DAYS:
        raise ValueError(f"有效期应为 1 到 {LONGEST_DAYS} 天")
    clear = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.create(user=user, name=name, token_hash=digest(clear), shown=clear[:SHOWN], scope=scope,
                            created_at=now, created_by=created_by, expires_at=now + datetime.timedelta(days=days))
    _audit("create", token, created_by, ip, {"user": user.username, "name": name, "scope": scope,
                                             "expires_at": token.expires_at.isoformat(sep=" ", timespec="seconds")})
    return token, clear


def find(clear):
    """The token whose clear text is `clear` (whatever its state), or None."""
    if not clear or not clear.startswith(PREFIX) or len(clear) > 200:
        return None
    return ApiToken.get_or_none(ApiToken.token_hash == digest(clear))


def revoke(token, now, by=None, ip=None):
    """Revoke `token`, audited (once: a revoked token keeps its first revocation time).  True if it was revoked now."""
    changed = ApiToken.update(revoked_at=now, revoked_by=by).where(
        (ApiToken.id == token.id) & ApiToken.revoked_at.is_null()).execute()
    if changed:
        token.revoked_at, token.revoked_by = now, by
        _audit("revoke", token, by, ip, {"user": token.user.username, "name": token.name})
    return bool(changed)


def touch(token, now, every_seconds=60):
    """Record the token's last use, at most once a minute (a write per request would be a write too many)."""
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= every_seconds:
        ApiToken.update(last_used_at=now).where(ApiToken.id == token.id).execute()
        token.last_used_at = now


def window_of(now, window_seconds=60):
    """(the window `now` falls in, seconds left in it)."""
    epoch = int(now.timestamp())
    return epoch // window_seconds, window_seconds - epoch % window_seconds


def count_request(token_id, now, window_seconds=60, owed=0):
    """Count one request of the token in the current window, plus `owed` earlier ones of the window that could
    not be written then; returns (hits so far, seconds left in the window).

    An upsert on (token, window), then a read of the row, in one transaction: every server process counts
    into the same row.  Older windows of the token are removed when a new window starts."""
    window, left = window_of(now, window_seconds)
    added = 1 + owed
    with db.atomic():
        (ApiRequestWindow.insert(token=token_id, window=window, hits=added)
                    .on_conflict(conflict_target=[ApiRequestWindow.token, ApiRequestWindow.window],
                                 update={ApiRequestWindow.hits: ApiRequestWindow.hits + added})
                    .execute())
        hits = (ApiRequestWindow.select(ApiRequestWindow.hits)
                .where((ApiRequestWindow.token == token_id) & (ApiRequestWindow.window == window)).scalar())
        if hits == added:
            ApiRequestWindow.delete().where((ApiRequestWindow.token == token_id)
                                            & (ApiRequestWindow.window < window)).execute()
    return hits, left


@contextlib.contextmanager
def _transaction_waiting_at_most(seconds):
    """A transaction that waits at most `seconds` for another writer's lock (None: the connection's budget).

    SQLite: the busy timeout of this connection, lowered around BEGIN IMMEDIATE and put back after (a pooled
    connection serves the next request with its usual budget).  PostgreSQL: SET LOCAL lock_timeout, which ends
    with the transaction."""
    if seconds is None:
        with db.atomic():
            yield
        return
    milliseconds = max(1, int(seconds * 1000))
    if is_sqlite():
        usual = db.execute_sql("PRAGMA busy_timeout").fetchone()[0]
        db.execute_sql(f"PRAGMA busy_timeout = {milliseconds}")
        try:
            with db.atomic():
                yield
        finally:
            db.execute_sql(f"PRAGMA busy_timeout = {int(usual)}")
        return
    with db.atomic():
        db.execute_sql(f"SET LOCAL lock_timeout = '{milliseconds}ms'")
        yield


def record_use(token, now, window_seconds=60, owed=0, wait_seconds=None):
    """Count a request of `token` (and `owed` earlier ones, see count_request) and stamp its last use, in one
    transaction waiting at most `wait_seconds` for the database; (hits so far, seconds left in the window).
    Raises the driver's busy error when the database cannot be written in time (nothing counted then)."""
    with _transaction_waiting_at_most(wait_seconds):
        counted = count_request(token.id, now, window_seconds, owed)
        touch(token, now)
    return counted
