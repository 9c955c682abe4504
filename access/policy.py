"""Loads grants from the policy tables, cached per (role, policy version).

Every edit of a role, permission or column rule calls bump_version(); the next request
reads the new version (one primary-key lookup) and builds fresh grants, so changes apply
without a restart and across processes.
"""
import datetime
import threading
import uuid
from types import MappingProxyType

from models import ColumnRule, Role, RolePermission, Setting
from models.people import ACTIONS

from .grant import Grant

VERSION_KEY = "policy_version"
_cache = {}
_lock = threading.Lock()


def current_version():
    row = Setting.get_or_none(Setting.key == VERSION_KEY)
    return row.value if row else "0"


def bump_version():
    """Mark every cached grant stale (call after any change to the policy tables)."""
    value = uuid.uuid4().hex
    now = datetime.datetime.now()
    # ON CONFLICT ... DO UPDATE: one statement on both SQLite and PostgreSQL (REPLACE is SQLite-only).
    Setting.insert(key=VERSION_KEY, value=value, updated_at=now).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: now}
    ).execute()
    return value


def _load(role_id, version):
    role = Role.get_by_id(role_id)
    actions = {}
    for perm in RolePermission.select().where(RolePermission.role == role_id):
        actions[perm.model] = frozenset(a for a in ACTIONS if getattr(perm, "can_" + a))
    rules = list(ColumnRule.select().where(ColumnRule.role == role_id))
    columns = {(rule.model, rule.column): rule.access for rule in rules}
    reveals = frozenset((rule.model, rule.column) for rule in rules if rule.reveal and rule.access == "masked")
    return Grant(
        role=role.name,
        label=role.label,
        row_scope=role.row_scope,
        version=version,
        actions=MappingProxyType(actions),
        columns=MappingProxyType(columns),
        reveals=reveals,
    )


def grant_for_role(name):
    """The grant of the role named `name` (Role.name) at the current policy version; None if there is no such
    role.  For work done on a user's behalf where only their role travels (a report kernel's viewer_role)."""
    role = Role.get_or_none(Role.name == name)
    return None if role is None else _grant(role.id)


def grant_for(user):
    """The grant of `user`'s role at the current policy version."""
    return _grant(user.role_id)


def _grant(role_id):
    version = current_version()
    key = (role_id, version)
    grant = _cache.get(key)
    if grant is None:
        grant = _load(role_id, version)
        with _lock:
            # Keep only the current version's grants so stale ones cannot pile up.
            stale = [k for k in _cache if k[1] != version]
            for k in stale:
                _cache.pop(k, None)
            _cache[key] = grant
    return grant
