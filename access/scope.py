"""Row scope: which records a user may reach, by who owns the customer behind them.

OWNER_PATHS declares, per model, how a record leads to its customer; USER_PATHS, for
records that belong to a user rather than a customer (a report run belongs to whoever ran
it, a subscription to its owner), the field holding that user.  The same row scope applies: own, the team's, or all.
Records without a user (runs by the system) are reached only with the "all" scope.
Models listed in neither are not row-scoped (managed lists, tags, users): their
permissions alone decide.
"""
from models import (ApiToken, Customer, CustomerTag, CustomerValue, Feedback, FollowUp, ImportRun, Order, ReportRun,
                    StatusChange, Subscription, Task, User)

# model -> field holding the customer id (None for Customer itself)
OWNER_PATHS = {
    Customer: None,
    FollowUp: FollowUp.customer,
    Order: Order.customer,
    Feedback: Feedback.customer,
    StatusChange: StatusChange.customer,
    CustomerTag: CustomerTag.customer,
    Task: Task.customer,  # 我的任务: a task is reached through its customer's owner
    CustomerValue: CustomerValue.customer,  # 客户价值分析表: a customer's value row, through its owner
}
USER_PATHS = {
    ReportRun: ReportRun.user,
    Subscription: Subscription.owner,
    ImportRun: ImportRun.user,
    ApiToken: ApiToken.user,  # API令牌: a token belongs to the user it acts as
}


def owner_ids(user, grant):
    """Ids of the owners whose customers `user` may reach; None means everyone's."""
    if grant.row_scope == "all":
        return None
    if grant.row_scope == "team":
        lead = user.manager_id if not _leads_team(user) else user.id
        ids = {user.id}
        if lead:
            ids.add(lead)
            ids.update(u.id for u in User.select(User.id).where(User.manager == lead))
        return sorted(ids)
    return [user.id]


def customers_of(owners):
    """A query of the ids of the customers of `owners` (owner_ids' answer); None for None (everyone's)."""
    return None if owners is None else Customer.select(Customer.id).where(Customer.owner.in_(owners))


def _leads_team(user):
    return User.select().where(User.manager == user.id).exists()


def scope_query(model, query, user, grant):
    """Restrict `query` over `model` to the rows `user` may reach."""
    if model not in OWNER_PATHS and model not in USER_PATHS:
        return query
    ids = owner_ids(user, grant)
    if ids is None:
        return query
    if model in USER_PATHS:
        return query.where(USER_PATHS[model].in_(ids))
    path = OWNER_PATHS[model]
    if path is None:
        return query.where(Customer.owner.in_(ids))
    return query.where(path.in_(Customer.select(Customer.id).where(Customer.owner.in_(ids))))


def customer_in_scope(customer_id, user, grant):
    query = scope_query(Customer, Customer.select(Customer.id), user, grant)
    return query.where(Customer.id == customer_id).exists()
