"""AJAX pickers for customers and owners, limited to what the caller may reach.

A form with a million customers stays fast: the picker asks the server for ten matches
through the same indexed search the list uses, inside the caller's row scope.
"""
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_login import current_user

import access
from access.scope import owner_ids, scope_query
from models import Customer, User, search

from .secured import current_grant, parse_id


def _as_id(pk):
    """A posted id, or None: a crafted non-number or too large a number must find nothing, not fail in the
    database."""
    return parse_id(pk)


class ScopedCustomerLoader(QueryAjaxModelLoader):
    def __init__(self, name):
        super().__init__(name, Customer, fields=["name"], placeholder="输入客户名称或编号")

    def _query(self):
        return scope_query(Customer, Customer.select(), current_user, current_grant())

    def format(self, model):
        return (model.id, f"{model.name} ({model.code})") if model else None

    def get_one(self, pk):
        pk = _as_id(pk)
        return None if pk is None else self._query().where(Customer.id == pk).first()

    def get_list(self, term, offset=0, limit=10):
        query = self._query()
        term = (term or "").strip()
        if term:
            code = term.upper()
            query = query.where(
                search.fragment_condition(["name"], term) | ((Customer.code >= code) & (Customer.code < code + "\uffff"))
            )
        return list(query.order_by(Customer.id.desc()).offset(offset or 0).limit(min(limit, 50)))


class ScopedOwnerLoader(QueryAjaxModelLoader):
    """Owners a caller may assign: active users inside the caller's row scope."""

    def __init__(self, name):
        super().__init__(name, User, fields=["username", "display_name"], placeholder="输入用户名或姓名")

    def _query(self):
        query = User.select().where(User.active == True)  # noqa: E712 (peewee expression)
        ids = owner_ids(current_user, current_grant())
        return query if ids is None else query.where(User.id.in_(ids))

    def get_one(self, pk):
        pk = _as_id(pk)
        return None if pk is None else self._query().where(User.id == pk).first()

    def get_list(self, term, offset=0, limit=10):
        query = self._query()
        if term:
            query = query.where(User.username.contains(term) | User.display_name.contains(term))
        return list(query.order_by(User.username).offset(offset or 0).limit(min(limit, 50)))


__all__ = ["ScopedCustomerLoader", "ScopedOwnerLoader", "access"]
