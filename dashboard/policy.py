"""What the access policy lets a grant see on the dashboard.  No role names: each card asks for the
permissions and columns of the records it summarises, as the screens of those records would.

- customer cards (status, new customers, industry mix, funnel): `customer` view and the column shown;
- money cards (sales trend, the period's sales, top customers): `order` view and the `amount` column
  visible (客服专员's default policy hides it, so service staff get no money cards);
- rule-tag counts: `customertag` view with its `tag` column in clear (as the tag filters need);
- the packages behind the other cards say it themselves: tasks due `reminders.may_view_tasks` (key `task`),
  the funnel `pipeline.may_view_funnel` (key `funnel`), top customers by value `valuation.may_view` (key
  `customervalue`, whose money columns valuation.top leaves out where the grant hides them).

Which customers: always the grant's row scope (access.scope_query on Customer, in dashboard.board).
"""


def sees_customers(grant, column=None):
    return grant.can("customer", "view") and (column is None or grant.visible("customer", column))


def sees_money(grant):
    return grant.can("order", "view") and grant.visible("order", "amount")


def sees_top_customers(grant):
    return sees_money(grant) and sees_customers(grant, "name")


def sees_tags(grant):
    return grant.can("customertag", "view") and grant.clear("customertag", "tag")
