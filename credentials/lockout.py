"""Login lockout: too many failed attempts lock an account name and a client address for a while.

Every failed attempt (a wrong password, a wrong two-step code) is a LoginFailure row with the attempted
username, whether that account exists or not, and the client address. `state` reads both counts for
the last `minutes` in one indexed query; `limit` failures in that window lock, until fewer than
`limit` remain in it. A successful login forgets the account's failures. The clock is always passed in.
"""
import datetime
from dataclasses import dataclass

from peewee import Case, fn

from models import LoginFailure

LIMIT = 5
MINUTES = 15
LOCKED_MESSAGE = "登录失败次数过多，请 {minutes} 分钟后再试"


@dataclass(frozen=True)
class Lockout:
    account: int  # failures of this username in the window
    address: int  # failures from this client address in the window
    limit: int

    @property
    def locked(self):
        return self.account >= self.limit or self.address >= self.limit


def _name(username):
    return (username or "").strip()[:LoginFailure.username.max_length]


def state(username, ip, now, limit=LIMIT, minutes=MINUTES):
    """The failures of `username` and of `ip` within the `minutes` before `now`: one query."""
    since = now - datetime.timedelta(minutes=minutes)
    name = _name(username)
    who = LoginFailure.username == name
    if ip:
        who = who | (LoginFailure.ip == ip)
        address = fn.SUM(Case(None, [(LoginFailure.ip == ip, 1)], 0))
    else:
        address = fn.SUM(0)
    row = (LoginFailure.select(fn.SUM(Case(None, [(LoginFailure.username == name, 1)], 0)), address)
           .where((LoginFailure.at > since) & (LoginFailure.at <= now) & who)
           .tuples().first())
    account, by_address = row if row else (0, 0)
    return Lockout(int(account or 0), int(by_address or 0), limit)


def record_failure(username, ip, now, minutes=MINUTES):
    """One more failed attempt; rows older than the window are purged on the way (nothing reads them)."""
    LoginFailure.delete().where(LoginFailure.at <= now - datetime.timedelta(minutes=minutes)).execute()
    LoginFailure.create(at=now, username=_name(username), ip=(ip or None))


def reset(username):
    """A successful login: the account's failures are forgotten (the address's other failures stay)."""
    LoginFailure.delete().where(LoginFailure.username == _name(username)).execute()


def message(minutes=MINUTES):
    return LOCKED_MESSAGE.format(minutes=minutes)
