"""What the access policy lets a grant do with tasks and reminder rules (access/defaults.py, keys `task` and
`reminderrule`).

- task view: 我的任务 — the open tasks of the customers in the grant's row scope (a rep's own customers, a
  manager's team's, everyone's for the `all` scope), and the daily digest mail of them; it also needs
  `customer` view.  A task is done by recording the follow-up, which needs `followup` create;
- task edit: 完成 / 重新打开 by hand on 我的任务, for the tasks in the same row scope (reminders.closing);
- reminderrule view: the rules; create / edit / delete: new rules, changes (启用/停用 too), deleting.
"""


def may_view_tasks(grant):
    return grant.can("task", "view") and grant.can("customer", "view")


def may_edit_tasks(grant):
    return may_view_tasks(grant) and grant.can("task", "edit")


def may_view_rules(grant):
    return grant.can("reminderrule", "view")


def may_edit_rules(grant, action="edit"):
    return may_view_rules(grant) and grant.can("reminderrule", action)
