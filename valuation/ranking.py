"""Reading the value table: the top customers by value, for the dashboard and anyone else."""
from peewee import fn

from models import Customer, CustomerValue

from .policy import MONEY_COLUMNS, POLICY_KEY


def top(customer_query, n=10, grant=None):
    """The `n` customers of `customer_query` (a Customer query, already in the viewer's row scope, e.g.
    access.scope_query(Customer, Customer.select(), user, grant)) with the highest LTV, then 年度消费额.

    One query.  Returns dicts: customer_id, code, name, tier, orders_12m, last_order_at, as_of and, unless
    `grant` hides them (客服专员 by default), annual_spend and ltv (Decimal).  Customers the last refresh did
    not cover are not listed.

    >>> top(access.scope_query(Customer, Customer.select(), user, grant), 5, grant)     # doctest: +SKIP
    [{'customer_id': 17, 'code': 'HB-IT-2024-0017', 'name': '北京星河科技有限公司', 'tier': '高价值客户',
      'ltv': Decimal('152340.18'), ...}]
    """
    ids = customer_query.select(Customer.id).order_by()
    # Customer.id too: peewee takes customer_id from the joined instance, which would lack it (None)
    rows = (CustomerValue.select(CustomerValue, Customer.id, Customer.code, Customer.name)
            .join(Customer)
            .where(CustomerValue.customer.in_(ids))
            .order_by(fn.COALESCE(CustomerValue.ltv, -1).desc(), CustomerValue.annual_spend.desc(),
                      CustomerValue.customer)
            .limit(max(int(n), 0)))
    hidden = {c for c in MONEY_COLUMNS if grant is not None and not grant.visible(POLICY_KEY, c)}
    found = []
    for row in rows:
        item = {"customer_id": row.customer_id, "code": row.customer.code, "name": row.customer.name,
                "tier": row.tier, "orders_12m": row.orders_12m, "last_order_at": row.last_order_at,
                "as_of": row.as_of, "annual_spend": row.annual_spend, "ltv": row.ltv}
        for column in hidden:
            item.pop(column)
        found.append(item)
    return found
