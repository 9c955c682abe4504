"""What the access policy lets a grant do with tag rules (access/defaults.py, key `tagrule`).

- view: the rules screen and the preview, which counts and lists customers in the grant's row scope only
  (it also needs `customer` view);
- create / edit / delete: new rules, changes (condition, tag, 启用/停用), deleting a rule.
"""


def may_view(grant):
    return grant.can("tagrule", "view") and grant.can("customer", "view")


def may_edit(grant, action="edit"):
    return may_view(grant) and grant.can("tagrule", action)
