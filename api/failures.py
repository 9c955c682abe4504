"""Failed token attempts count toward the login's lockout (credentials.lockout), not a second mechanism.

A request whose token is unknown, revoked or expired is a failed attempt, recorded as the login records one
(a LoginFailure row): the client address, and as the "account name" the token's first characters
(`api令牌:crm_AbCdEfGh`, the part 系统管理 → API令牌 shows), so guesses aimed at one token are counted together
from any address.  The login's limits apply: LOGIN_MAX_FAILURES within LOGIN_LOCK_MINUTES.

- **Address locked** (that many failures from it, token or password ones alike): every request from it is 429,
  a valid token's too, as the login refuses the right password from a locked address.
- **Prefix locked**: a token that fails with that prefix is 429 instead of 401.  A valid token is never refused
  for its prefix, so nobody can lock a working integration out by sending bad tokens that start like its own
  from somewhere else.
- The failure that locks is answered 429 already, and the lockout is audited once, then (action
  `api_token_locked`: the address, the prefix, the counts); refused attempts while locked are neither counted
  nor audited again.  Missing headers (`token_missing`) are not attempts and count for nothing.
"""
import json
from dataclasses import dataclass

from credentials import lockout
from models import AuditLog, db, is_sqlite
from models import tokens as token_store

PREFIX_NAME = "api令牌:"  # LoginFailure.username of a failed token: this and its first characters
AUDIT_ACTION = "api_token_locked"


def shown(presented):
    """The first characters of a presented token, as screens and the audit may show them (never more; anything
    unprintable, e.g. a NUL PostgreSQL cannot store, as ?)."""
    return "".join(c if c.isprintable() else "?" for c in presented[:token_store.SHOWN])


def prefix_key(presented):
    """The "account name" a presented token's failures count under: its shown prefix."""
    return PREFIX_NAME + shown(presented)


@dataclass(frozen=True)
class Limits:
    limit: int
    minutes: int

    @property
    def message(self):
        return f"访问令牌验证失败次数过多，请 {self.minutes} 分钟后再试"

    @property
    def retry_after(self):
        return str(self.minutes * 60)  # at the latest: the lock lifts once the oldest failures leave the window


def state(presented, ip, now, limits):
    """(address locked, prefix locked) for a request: one indexed query (credentials.lockout.state)."""
    found = lockout.state(prefix_key(presented), ip, now, limits.limit, limits.minutes)
    return found.address >= limits.limit, found.account >= limits.limit


def record(presented, ip, now, limits, reason):
    """One failed attempt; True when it locked the address or the prefix (audited, once, in the same transaction).

    Failures are recorded one at a time (SQLite's write lock; PostgreSQL: a transaction-scoped advisory lock), so
    of two failures at once only the one that reaches the limit sees the lock begin and audits it."""
    key = prefix_key(presented)
    with db.atomic():
        if not is_sqlite():
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('api.token_failures'))")
        before = lockout.state(key, ip, now, limits.limit, limits.minutes)
        if before.locked:  # locked meanwhile by another request's failure: that one audited it
            return True
        lockout.record_failure(key, ip, now, limits.minutes)
        after = lockout.state(key, ip, now, limits.limit, limits.minutes)
        if not after.locked:
            return False
        locked = [name for name, count in (("address", after.address), ("prefix", after.account))
                  if count >= limits.limit]
        AuditLog.create(at=now, username=key, action=AUDIT_ACTION, model="apitoken", ip=ip,
                        changes=json.dumps({"locked": locked, "address": ip, "prefix": shown(presented),
                                            "failures_from_address": after.address,
                                            "failures_with_prefix": after.account, "last_reason": reason,
                                            "minutes": limits.minutes}, ensure_ascii=False))
        return True
