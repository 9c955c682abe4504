"""A role's policy as one flat mapping, so a change records its before and after.

    before = role_policy(role.id)
    ... the role screen saves the role with its permissions and column rules ...
    policy_changes(before, role_policy(role.id))
    # {"row_scope": ["own", "team"], "perm.customer": ["view", "view edit"], "column.customer.mobile": ["masked", None]}

Permission flags are read generically (every can_* column), so a new action needs no change here.
"""
from peewee import BooleanField

from models import ColumnRule, Role, RolePermission

ROLE_FIELDS = ("name", "label", "row_scope", "require_totp", "description")


def role_policy(role_id):
    """{key: value}: the role's own fields, "perm.<model>" -> its actions, "column.<model>.<column>" -> access."""
    role = Role.get_or_none(Role.id == role_id)
    if role is None:
        return {}
    found = {name: getattr(role, name) for name in ROLE_FIELDS if name in Role._meta.fields}
    flags = [f for f in RolePermission._meta.sorted_fields if f.name.startswith("can_")]
    for perm in RolePermission.select().where(RolePermission.role == role_id).order_by(RolePermission.model):
        found[f"perm.{perm.model}"] = " ".join(f.name[4:] for f in flags if getattr(perm, f.name)) or "-"
    marks = [f for f in ColumnRule._meta.sorted_fields if isinstance(f, BooleanField)]  # e.g. reveal (查看明文)
    for rule in ColumnRule.select().where(ColumnRule.role == role_id).order_by(ColumnRule.model, ColumnRule.column):
        found[f"column.{rule.model}.{rule.column}"] = " ".join([rule.access] + [f.name for f in marks
                                                                              if getattr(rule, f.name)])
    return found


def policy_changes(before, after):
    """{key: [old, new]} for every key whose value differs (None: absent on that side)."""
    return {key: [before.get(key), after.get(key)] for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)}
