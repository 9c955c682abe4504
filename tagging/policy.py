"""What the access policy lets a grant do with tags (access/defaults.py, key `tagging`).

- see tags on the customer list and filter by them: `tagging` view, `customertag` view, and the tag
  column of `customertag` in clear;
- batch tag: `tagging` create and `customertag` create; batch untag: `tagging` delete and `customertag`
  delete; both with the tag column of `customertag` editable;
- the review screen: `tag` view and `customertag` view; retiring or restoring a tag: `tag` edit.

Which customers: always the grant's row scope (access.scope_query on Customer).
"""
from .library import Refused

ACTIONS = {"tag": "create", "untag": "delete"}


def may_see(grant):
    return (grant.can("tagging", "view") and grant.can("customertag", "view")
            and grant.clear("customertag", "tag"))


def may(grant, operation):
    action = ACTIONS[operation]
    return (may_see(grant) and grant.can("tagging", action) and grant.can("customertag", action)
            and grant.writable("customertag", "tag"))


def check(grant, operation):
    """Refused unless `grant` (None: the system) may run `operation` ("tag" / "untag") in batch."""
    if grant is not None and not may(grant, operation):
        raise Refused("您没有批量添加客户标签的权限" if operation == "tag" else "您没有批量移除客户标签的权限")


def may_review(grant):
    return grant.can("tag", "view") and grant.can("customertag", "view") and grant.clear("customertag", "tag")


def may_retire(grant):
    return may_review(grant) and grant.can("tag", "edit")
