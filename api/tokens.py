"""Who is calling: the bearer token of every API request, checked before any view runs.

Only `Authorization: Bearer <token>` authenticates the API; a browser's session cookie never does (the
admin's login is not consulted at all), so the API needs no CSRF token and a page cannot make a logged-in
browser call it.  The checks, in order, each a 401 with its own code:

    token_missing   no Authorization header, or not "Bearer ..."
    token_invalid   no such token
    token_revoked   revoked in 系统管理 → API令牌
    token_expired   past its expiry
    user_inactive   its user is 停用 (the login refuses them too)
    user_locked     its user's account name is locked by failed logins (credentials.lockout, as the login)

then 429 `rate_limited` past API_RATE_PER_MINUTE requests of this token in the current minute (counted in
the database: every server process counts together; Retry-After says when the minute ends; a read is not held
up by a busy database: api.ratelimit), and 403 `token_read_only` for a read-only token on anything but
GET/HEAD/OPTIONS.

Failed tokens (invalid, revoked, expired) count toward the login's lockout (api.failures): past
LOGIN_MAX_FAILURES within LOGIN_LOCK_MINUTES from one address (or with one token prefix) the answer is 429
`too_many_failures` before any of the checks above, with Retry-After.
"""
import datetime
from dataclasses import dataclass

from flask import current_app, g, request

import access
from credentials import lockout
from models import User
from models import tokens as token_store

from . import failures, ratelimit
from .errors import ApiError

READ_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_ENDPOINTS = {"api.openapi_json", "api.docs"}  # the description of the API is public, as any schema


@dataclass(frozen=True)
class Caller:
    """The token's user, with what the access policy grants them (the same grant as their admin screens)."""

    user: User
    grant: access.Grant
    token: token_store.ApiToken

    @property
    def owners(self):
        """Owner ids of the customers this caller reaches; None: everyone's (access.owner_ids)."""
        return access.owner_ids(self.user, self.grant)

    def can(self, policy_key, action):
        return self.grant.can(policy_key, action)


def now():
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.datetime.now()


def _bearer():
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "token_missing", "缺少访问令牌：请在请求头中提供 Authorization: Bearer <令牌>",
                       headers={"WWW-Authenticate": 'Bearer realm="api"'})
    return value.strip()


def _refused(code, message):
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})


def _failed(presented, limits, moment, code, message):
    """A token that failed: counted toward the lockout; 401, or 429 when this failure locked."""
    if failures.record(presented, request.remote_addr, moment, limits, code):
        return _locked_out(limits)
    return _refused(code, message)


def _locked_out(limits):
    return ApiError(429, "too_many_failures", limits.message, headers={"Retry-After": limits.retry_after})


def authenticate():
    """The blueprint's before_request: sets g.api_caller, or raises ApiError (401 / 403 / 429)."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    moment = now()
    presented = _bearer()
    config = current_app.config
    limits = failures.Limits(config.get("LOGIN_MAX_FAILURES", lockout.LIMIT),
                             config.get("LOGIN_LOCK_MINUTES", lockout.MINUTES))
    address_locked, prefix_locked = failures.state(presented, request.remote_addr, moment, limits)
    if address_locked:
        raise _locked_out(limits)
    token = token_store.find(presented)
    state = token.state(moment) if token is not None else "invalid"
    if state != "active":
        if prefix_locked:
            raise _locked_out(limits)
        code, message = {
            "invalid": ("token_invalid", "访问令牌无效"),
            "revoked": ("token_revoked", "访问令牌已被撤销"),
            "expired": ("token_expired", "访问令牌已过期，请向管理员申请新的令牌"),
        }[state]
        raise _failed(presented, limits, moment, code, message)
    user = User.get_or_none(User.id == token.user_id)
    if user is None or not user.is_active:
        raise _refused("user_inactive", "令牌所属的账号已停用")
    if lockout.state(user.username, None, moment, limits.limit, limits.minutes).locked:
        raise _refused("user_locked", lockout.message(limits.minutes).replace("登录", "令牌所属账号登录"))
    writes = request.method not in READ_METHODS
    hits, left = ratelimit.counter.count(token, moment, write=writes)
    per_minute = config.get("API_RATE_PER_MINUTE", 120)
    if hits > per_minute:
        raise ApiError(429, "rate_limited", f"请求过于频繁：每个令牌每分钟最多 {per_minute} 次，"
                       f"请 {left} 秒后再试", headers={"Retry-After": str(left)})
    if writes and not token.writes:
        raise ApiError(403, "token_read_only", "此令牌为只读令牌，不能修改数据")
    g.api_caller = Caller(user=user, grant=access.grant_for(user), token=token)
    return None


def caller():
    """The authenticated caller of this request (inside an API view)."""
    return g.api_caller
