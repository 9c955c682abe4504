"""What the access policy lets a grant do here (access/defaults.py).

- `funnel` view: the 销售漏斗 screen, counted over the grant's row scope of customers (also needs `customer` view);
- `pipelinerule` view: the transitions list; create / edit / delete: changing them (admins by default).
"""


def may_view_funnel(grant):
    return grant.can("funnel", "view") and grant.can("customer", "view")
