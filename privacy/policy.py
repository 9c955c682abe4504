"""Who may export or erase a customer's personal data, and finding the customer in their row scope."""
import access
from access.scope import scope_query
from models import Customer

POLICY_KEY = "personaldata"  # export: 导出个人数据; delete: 匿名化 (access/defaults.py)


class PrivacyError(ValueError):
    """A request refused; the message says why in Chinese, and nothing was written."""


def grant_of(user):
    """The user's grant; None for the command line without --as (everything, in clear)."""
    return None if user is None else access.grant_for(user)


def may_export(grant):
    return grant is None or (grant.can(POLICY_KEY, "export") and grant.can("customer", "view"))


def may_erase(grant):
    return grant is None or (grant.can(POLICY_KEY, "delete") and grant.can("customer", "view"))


def find_customer(code, user, grant):
    """The customer with `code` in the user's row scope; PrivacyError when there is none (out of scope reads the
    same as not found, so the answer does not tell whether another rep's customer exists)."""
    code = (code or "").strip()
    query = Customer.select().where(Customer.code == code)
    if user is not None:
        query = scope_query(Customer, query, user, grant)
    customer = query.first() if code else None
    if customer is None:
        raise PrivacyError(f"客户 {code or '（未填写编号）'} 不存在或不在您的数据范围内")
    return customer
